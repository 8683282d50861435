// StatusServer: the live status of a run over HTTP/1.1 — a page, a JSON document and Prometheus
// metrics, read from a LiveStatus (observe/live_status.hpp).
//
//   auto live = std::make_shared<trainflow::observe::LiveStatus>(graph);
//   auto server = trainflow::observe::StatusServer::start(live, {.port = 8470});
//   if (!server) return fail(server.error());
//   std::cerr << "live status at " << (*server)->url() << '\n';
//   executor.run(pipeline, {.observers = {live}});
//   (*server)->stop();   // or let it go out of scope
//
// Routes (GET and HEAD only; docs/serve.md has the details):
//   /          a self-contained page (inline CSS and JS, no external resource) that polls
//              /api/run every second and draws the DAG, the stage table and training curves
//   /api/run   LiveStatus::json(), application/json
//   /metrics   LiveStatus::prometheus(), text/plain; version=0.0.4
//
// Answers: 404 for another path; 405 with `Allow: GET, HEAD` for another method; 400 for a
// malformed request or a missing Host header; 421 when Host names another server (guards against
// DNS rebinding: on loopback only localhost, 127.0.0.1, [::1] or the bound address, with the
// bound port, are accepted); 431 when the request head exceeds max_request_bytes, 413 when its
// body does; 401 when a token is set and the request carries neither `Authorization: Bearer
// <token>` nor `?token=<token>`; 503 when max_connections are open (the connection is closed).
// Every response has `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`; the page
// also a Content-Security-Policy that allows only its own inline script and style and fetches
// from the same origin.
//
// The server runs on its own thread with its own Asio io_context: never on an executor's
// workers, and a slow or hostile client never delays a run (LiveStatus is only read, briefly,
// under its mutex). A client must send a whole request within request_timeout, and a kept-alive
// connection is closed after request_timeout without a request.
//
// Thread safety: every member may be called from any thread. The server keeps the LiveStatus
// alive while it runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"

namespace trainflow::observe {

class LiveStatus;

struct ServeOptions {
  // The address to listen on: an IPv4 or IPv6 literal (no brackets, no host names). Default
  // "127.0.0.1". Anything but a loopback address (127.0.0.0/8, ::1) requires `token`.
  std::string address = "127.0.0.1";
  // The TCP port. Default 0: any free port (read it back with port()).
  std::uint16_t port = 0;
  // When not empty, every request must carry it (`Authorization: Bearer <token>`, or `?token=`
  // in the URL, which the page passes on to its fetches). At least 16 characters, each a letter,
  // a digit or one of "-._~" (so that it is safe in a URL as is). Default empty: no token, only
  // allowed on loopback. Compared in constant time.
  std::string token{};
  // Extra names the Host header may carry (e.g. the machine's DNS name when binding 0.0.0.0),
  // besides the bound address and, on loopback, localhost, 127.0.0.1 and [::1]. On the
  // unspecified address (0.0.0.0 or ::) any name is accepted when this is empty: the token
  // guards it. Default none.
  std::vector<std::string> allowed_hosts{};
  // The largest request head (request line and headers) accepted, in bytes, and separately the
  // largest body (GET and HEAD need none). Default 8192; larger requests get 431 or 413.
  std::size_t max_request_bytes = 8192;
  // Connections served at once; further ones get 503 and are closed. Default 32.
  std::size_t max_connections = 32;
  // Time a client has to send a complete request (also the idle time of a kept-alive
  // connection) and to read the response. Default 10 s. A smaller value frees slow clients'
  // slots sooner.
  std::chrono::milliseconds request_timeout{10'000};
};

class StatusServer {
 public:
  // Binds and listens on options.address:options.port and starts serving `status` on a new
  // thread. Fails with kInvalidArgument for a bad address, a bad token or a non-loopback address
  // without a token, and with kUnavailable when the address cannot be bound (in use, not
  // local), each message naming the address and what to do. REQUIRES: status != nullptr.
  static Result<std::unique_ptr<StatusServer>> start(std::shared_ptr<const LiveStatus> status,
                                                     ServeOptions options = {});

  // Stops and joins the server's thread.
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // The bound port (the chosen one when options.port was 0).
  std::uint16_t port() const noexcept;
  // "http://127.0.0.1:8470/" ("http://[::1]:8470/" for IPv6); never includes the token.
  std::string url() const;
  // Closes the listening socket and every connection, and joins the thread. Idempotent; the
  // destructor calls it. Requests in flight get no answer.
  void stop();

 private:
  struct Impl;
  explicit StatusServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The page served at "/": HTML with inline CSS and JS (observe/status_page.cpp).
std::string_view status_page_html() noexcept;

}  // namespace trainflow::observe
