#include "trainflow/observe/status_server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "testing/stage_bodies.hpp"
#include "trainflow/core/type_id.hpp"
#include "trainflow/graph/graph.hpp"
#include "trainflow/observe/live_status.hpp"

namespace trainflow::observe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kToken = "0123456789abcdef-token";

Graph small_graph() {
  Graph g{"small"};
  const StageId a = g.add_stage(test::stage_spec("load", {}, {type_id<int>()}));
  const StageId b = g.add_stage(test::stage_spec("fit[lr=0.1]", {type_id<int>()}, {}));
  g.connect({a, 0}, {b, 0});
  return g;
}

std::shared_ptr<LiveStatus> live_status() {
  auto live = std::make_shared<LiveStatus>(small_graph());
  Event e;
  e.kind = EventKind::kRunStarted;
  e.run_id = "r1";
  live->on_event(e);
  e.kind = EventKind::kStageStarted;
  e.stage_index = 0;
  e.attempt = 1;
  e.threads = 1;
  live->on_event(e);
  return live;
}

// A blocking client connection with a 5 s receive timeout, so that a broken server fails the test
// instead of hanging it.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{5, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  void send(const std::string& raw) { asio::write(socket_, asio::buffer(raw)); }
  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool ok = false;  // a response was read
    std::string error;
  };

  Response read(bool head = false) {
    Response out;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    boost::system::error_code ec;
    http::read(socket_, buffer_, parser, ec);
    if (ec) {
      out.error = ec.message();
      return out;
    }
    const auto& res = parser.get();
    out.ok = true;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(field.value());
    }
    out.body = res.body();
    return out;
  }

  // True when the server closed the connection (EOF or reset) within the receive timeout.
  bool closed_by_server() {
    char c;
    boost::system::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

std::string request(const std::string& method, const std::string& target, std::uint16_t port,
                    const std::string& extra = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n" +
         extra + "\r\n";
}

Client::Response get(std::uint16_t port, const std::string& target, const std::string& extra = "") {
  Client c(port);
  c.send(request("GET", target, port, extra));
  return c.read();
}

std::unique_ptr<StatusServer> start(std::shared_ptr<LiveStatus> live, ServeOptions options = {}) {
  Result<std::unique_ptr<StatusServer>> server = StatusServer::start(std::move(live), options);
  EXPECT_TRUE(server.has_value()) << server.error().message();
  return server ? std::move(*server) : nullptr;
}

TEST(StatusServerTest, ServesApiRunAsJson) {
  auto live = live_status();
  auto server = start(live);
  ASSERT_TRUE(server);
  EXPECT_NE(server->port(), 0);
  EXPECT_EQ(server->url(), "http://127.0.0.1:" + std::to_string(server->port()) + "/");
  const Client::Response r = get(server->port(), "/api/run");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.headers.at("cache-control"), "no-store");
  EXPECT_EQ(r.headers.at("x-content-type-options"), "nosniff");
  const json doc = json::parse(r.body);
  EXPECT_EQ(doc["run"]["id"], "r1");
  EXPECT_EQ(doc["stages"][0]["status"], "running");
  EXPECT_EQ(doc["stages"][1]["name"], "fit[lr=0.1]");
  EXPECT_EQ(doc["edges"], json::parse("[[0,1]]"));
}

TEST(StatusServerTest, ServesPrometheusMetrics) {
  auto live = live_status();
  auto server = start(live);
  ASSERT_TRUE(server);
  const Client::Response r = get(server->port(), "/metrics");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("# TYPE trainflow_stages gauge\n"), std::string::npos);
  EXPECT_NE(r.body.find("trainflow_stages{status=\"running\"} 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("trainflow_stage_threads{stage=\"load\"} 1\n"), std::string::npos);
}

TEST(StatusServerTest, ServesASelfContainedPage) {
  auto server = start(live_status());
  ASSERT_TRUE(server);
  const Client::Response r = get(server->port(), "/");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.body, std::string(status_page_html()));
  const std::string& csp = r.headers.at("content-security-policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
  EXPECT_EQ(r.headers.at("x-content-type-options"), "nosniff");
  EXPECT_NE(r.body.find("/api/run"), std::string::npos);
  // No external resource: no src= or href= attributes, no URL but the SVG namespace.
  EXPECT_EQ(r.body.find(" src="), std::string::npos);
  EXPECT_EQ(r.body.find("href="), std::string::npos);
  std::size_t at = 0;
  while ((at = r.body.find("http", at)) != std::string::npos) {
    EXPECT_EQ(r.body.compare(at, 26, "http://www.w3.org/2000/svg"), 0) << r.body.substr(at, 40);
    ++at;
  }
}

TEST(StatusServerTest, HeadHasHeadersButNoBody) {
  auto server = start(live_status());
  ASSERT_TRUE(server);
  Client c(server->port());
  c.send(request("HEAD", "/", server->port()));
  const Client::Response head = c.read(/*head=*/true);
  ASSERT_TRUE(head.ok) << head.error;
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(head.headers.at("cache-control"), "no-store");
  EXPECT_EQ(head.headers.at("content-length"), std::to_string(status_page_html().size()));
  EXPECT_TRUE(head.body.empty());
  // No body bytes were sent: the next answer on the connection parses cleanly.
  c.send(request("GET", "/metrics", server->port()));
  const Client::Response next = c.read();
  ASSERT_TRUE(next.ok) << next.error;
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body.rfind("# HELP", 0), 0U);
}

TEST(StatusServerTest, OtherMethodsGet405WithAllow) {
  auto server = start(live_status());
  ASSERT_TRUE(server);
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    Client c(server->port());
    c.send(request(method, "/api/run", server->port(), "Content-Length: 0\r\n"));
    const Client::Response r = c.read();
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.headers.at("allow"), "GET, HEAD");
  }
}

TEST(StatusServerTest, UnknownPathIs404) {
  auto server = start(live_status());
  ASSERT_TRUE(server);
  const Client::Response r = get(server->port(), "/etc/passwd");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("/api/run"), std::string::npos);
}

TEST(StatusServerTest, ChecksTheHostHeader) {
  auto server = start(live_status());
  ASSERT_TRUE(server);
  const std::uint16_t port = server->port();
  const std::string p = std::to_string(port);
  auto with_host = [port](const std::string& host_line) {
    Client c(port);
    c.send("GET /api/run HTTP/1.1\r\n" + host_line + "\r\n");
    return c.read();
  };
  EXPECT_EQ(with_host("Host: localhost:" + p + "\r\n").status, 200);
  EXPECT_EQ(with_host("Host: LOCALHOST:" + p + "\r\n").status, 200);
  EXPECT_EQ(with_host("Host: [::1]:" + p + "\r\n").status, 200);
  EXPECT_EQ(with_host("").status, 400);
  EXPECT_EQ(with_host("Host: localhost:" + p + "\r\nHost: localhost:" + p + "\r\n").status, 400);
  EXPECT_EQ(with_host("Host: [::1\r\n").status, 400);
  EXPECT_EQ(with_host("Host: localhost:99999\r\n").status, 400);
  // DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1.
  const Client::Response rebinding = with_host("Host: evil.example:" + p + "\r\n");
  EXPECT_EQ(rebinding.status, 421);
  EXPECT_NE(rebinding.body.find("localhost:" + p), std::string::npos) << rebinding.body;
  EXPECT_EQ(
      with_host("Host: 127.0.0.1:" + std::to_string(port == 1 ? 2 : port - 1) + "\r\n").status,
      421);
  EXPECT_EQ(with_host("Host: 127.0.0.1\r\n").status, port == 80 ? 200 : 421);
}

TEST(StatusServerTest, RejectsOversizedAndMalformedRequestsAndKeepsServing) {
  auto server = start(live_status(), {.max_request_bytes = 1024});
  ASSERT_TRUE(server);
  const std::uint16_t port = server->port();
  {
    Client c(port);
    c.send(request("GET", "/api/run", port, "X-Filler: " + std::string(4000, 'x') + "\r\n"));
    const Client::Response r = c.read();
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 431);
    EXPECT_EQ(r.headers.at("connection"), "close");
  }
  {
    // Far more than the cap, sent while the server answers: it still gets its 431.
    Client c(port);
    c.send(request("GET", "/api/run", port, "X-Filler: " + std::string(200'000, 'x') + "\r\n"));
    const Client::Response r = c.read();
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 431);
  }
  {
    Client c(port);
    c.send(request("GET", "/api/run", port, "Content-Length: 5000\r\n") + std::string(5000, 'b'));
    const Client::Response r = c.read();
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 413);
  }
  {
    Client c(port);
    c.send("GARBAGE\r\n\r\n");
    const Client::Response r = c.read();
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 400);
  }
  const Client::Response after = get(port, "/api/run");
  EXPECT_EQ(after.status, 200);
}

TEST(StatusServerTest, RefusesNonLoopbackWithoutTokenAndBadSettings) {
  Result<std::unique_ptr<StatusServer>> open =
      StatusServer::start(live_status(), {.address = "0.0.0.0"});
  ASSERT_FALSE(open.has_value());
  EXPECT_EQ(open.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(open.error().message().find("0.0.0.0:0 without a token"), std::string::npos)
      << open.error().message();
  EXPECT_NE(open.error().message().find("--serve-token"), std::string::npos);

  Result<std::unique_ptr<StatusServer>> name =
      StatusServer::start(live_status(), {.address = "localhost"});
  ASSERT_FALSE(name.has_value());
  EXPECT_NE(name.error().message().find("not an IP address"), std::string::npos);

  Result<std::unique_ptr<StatusServer>> weak =
      StatusServer::start(live_status(), {.address = "0.0.0.0", .token = "short"});
  ASSERT_FALSE(weak.has_value());
  EXPECT_NE(weak.error().message().find("at least 16 characters"), std::string::npos);
  Result<std::unique_ptr<StatusServer>> odd =
      StatusServer::start(live_status(), {.token = "has spaces in it, and more"});
  ASSERT_FALSE(odd.has_value());

  auto first = start(live_status());
  ASSERT_TRUE(first);
  Result<std::unique_ptr<StatusServer>> taken =
      StatusServer::start(live_status(), {.port = first->port()});
  ASSERT_FALSE(taken.has_value());
  EXPECT_EQ(taken.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(taken.error().message().find("pick another port"), std::string::npos)
      << taken.error().message();
}

TEST(StatusServerTest, TokenIsRequiredWhenSet) {
  // Any address with a token: 0.0.0.0 answers to any Host name on its port.
  auto server = start(live_status(), {.address = "0.0.0.0", .token = kToken});
  ASSERT_TRUE(server);
  const std::uint16_t port = server->port();
  const std::string token = kToken;
  const Client::Response none = get(port, "/api/run");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers.at("www-authenticate"), "Bearer realm=\"trainflow\"");
  EXPECT_EQ(get(port, "/api/run", "Authorization: Bearer wrong-token-0123456789\r\n").status, 401);
  EXPECT_EQ(get(port, "/api/run", "Authorization: Bearer " + token + "x\r\n").status, 401);
  EXPECT_EQ(get(port, "/api/run", "Authorization: Bearer " + token.substr(1) + "\r\n").status, 401);
  EXPECT_EQ(get(port, "/api/run?token=nope").status, 401);
  EXPECT_EQ(get(port, "/api/run", "Authorization: Bearer " + token + "\r\n").status, 200);
  EXPECT_EQ(get(port, "/metrics", "Authorization: bearer " + token + "\r\n").status, 200);
  EXPECT_EQ(get(port, "/?token=" + token).status, 200);
  EXPECT_EQ(get(port, "/?x=1&token=" + token).status, 200);
  // The method is checked after the token: no information without it.
  Client c(port);
  c.send(request("POST", "/api/run", port, "Content-Length: 0\r\n"));
  EXPECT_EQ(c.read().status, 401);
  Client other(port);
  other.send("GET /api/run HTTP/1.1\r\nHost: build-box.example:" + std::to_string(port) +
             "\r\nAuthorization: Bearer " + token + "\r\n\r\n");
  EXPECT_EQ(other.read().status, 200);
}

TEST(StatusServerTest, AllowedHostsNarrowTheUnspecifiedAddress) {
  auto server = start(live_status(),
                      {.address = "0.0.0.0", .token = kToken, .allowed_hosts = {"Box.example"}});
  ASSERT_TRUE(server);
  const std::string p = std::to_string(server->port());
  const std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
  Client ok(server->port());
  ok.send("GET /metrics HTTP/1.1\r\nHost: box.example:" + p + "\r\n" + auth + "\r\n");
  EXPECT_EQ(ok.read().status, 200);
  Client bad(server->port());
  bad.send("GET /metrics HTTP/1.1\r\nHost: evil.example:" + p + "\r\n" + auth + "\r\n");
  EXPECT_EQ(bad.read().status, 421);
}

TEST(StatusServerTest, SlowClientDoesNotBlockOthersAndIsDropped) {
  auto server = start(live_status(), {.request_timeout = 600ms});
  ASSERT_TRUE(server);
  Client slow(server->port());
  slow.send("GET /api/run HTTP/1.1\r\nHo");  // and nothing more
  const auto t0 = std::chrono::steady_clock::now();
  const Client::Response r = get(server->port(), "/api/run");
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  // The server gives up on it after request_timeout.
  EXPECT_TRUE(slow.closed_by_server());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
}

TEST(StatusServerTest, BoundsConcurrentConnections) {
  auto server = start(live_status(), {.max_connections = 2, .request_timeout = 5s});
  ASSERT_TRUE(server);
  Client a(server->port());
  Client b(server->port());
  a.send("GET / HTTP/1.1\r\n");
  b.send("GET / HTTP/1.1\r\n");
  std::this_thread::sleep_for(100ms);  // both accepted
  Client c(server->port());
  const Client::Response busy = c.read();
  ASSERT_TRUE(busy.ok) << busy.error;
  EXPECT_EQ(busy.status, 503);
  // Finishing one frees its slot.
  a.send("Host: 127.0.0.1:" + std::to_string(server->port()) + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(a.read().status, 200);
  EXPECT_TRUE(a.closed_by_server());
  a.close();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(get(server->port(), "/metrics").status, 200);
}

TEST(StatusServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = start(live_status());
  ASSERT_TRUE(server);
  Client c(server->port());
  for (int i = 0; i < 3; ++i) {
    c.send(request("GET", "/metrics", server->port()));
    EXPECT_EQ(c.read().status, 200);
  }
}

TEST(StatusServerTest, ConcurrentClientsWhileEventsStreamIn) {
  auto live = live_status();
  auto server = start(live);
  ASSERT_TRUE(server);
  std::atomic<bool> done{false};
  std::vector<std::thread> producers;
  for (std::uint32_t stage = 0; stage < 2; ++stage) {
    producers.emplace_back([&live, &done, stage] {
      for (std::int64_t step = 0; !done.load(); ++step) {
        Event e;
        e.kind = EventKind::kMetric;
        e.stage_index = stage;
        e.metric = "loss";
        e.value = 1.0 / static_cast<double>(step + 1);
        e.step = step;
        live->on_event(e);
        if (step % 64 == 0) std::this_thread::yield();
      }
    });
  }
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const Client::Response r = get(server->port(), (i + t) % 2 ? "/api/run" : "/metrics");
        if (r.status != 200) continue;
        if ((i + t) % 2) {
          const json doc = json::parse(r.body, nullptr, false);
          if (doc.is_discarded() || doc["stages"].size() != 2) continue;
        }
        ++ok;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  done = true;
  for (std::thread& t : producers) t.join();
  EXPECT_EQ(ok.load(), 40);
}

TEST(StatusServerTest, StopClosesTheListenerAndIsIdempotent) {
  auto server = start(live_status());
  ASSERT_TRUE(server);
  const std::uint16_t port = server->port();
  Client idle(port);
  server->stop();
  server->stop();
  EXPECT_TRUE(idle.closed_by_server());
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_TRUE(ec) << "still listening after stop()";
}

}  // namespace
}  // namespace trainflow::observe
