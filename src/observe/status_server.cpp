// StatusServer: Boost.Beast HTTP/1.1 on one thread with its own io_context. Each connection is a
// Session that reads one request at a time under a deadline, answers it, and either waits for the
// next (keep-alive) or shuts its side down and drains what the client still sends for a moment,
// so that an error answer reaches a client that is still writing.
#include "trainflow/observe/status_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "trainflow/observe/live_status.hpp"

namespace trainflow::observe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::string_view kPagePolicy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";
// After an error answer, what a client still sends is read and dropped for this long (at most
// kDrainBytes), then the connection is closed.
constexpr std::chrono::milliseconds kDrainTime{500};
constexpr std::size_t kDrainBytes = 256 * 1024;

std::string_view sv(beast::string_view s) {
  return {s.data(), s.size()};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Equal in time that depends only on expected's length.
bool constant_time_equal(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

// "127.0.0.1" or "[::1]": the address as it appears in a URL and a Host header.
std::string host_form(const asio::ip::address& address) {
  return address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
}

// What every session reads; immutable after start except `connections`.
struct Config {
  std::shared_ptr<const LiveStatus> status;
  ServeOptions options;
  asio::ip::address address;
  std::uint16_t port = 0;
  bool any_host = false;             // the Host's name is not checked (only its port)
  std::vector<std::string> hosts{};  // accepted Host names, lower case
  std::atomic<std::size_t> connections{0};
};

struct Reply {
  http::status status = http::status::ok;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body{};
  std::vector<std::pair<std::string, std::string>> headers{};  // name, value
  bool close = false;
};

Reply error_reply(http::status status, std::string message) {
  Reply r;
  r.status = status;
  r.body = std::move(message) + "\n";
  r.close = true;
  return r;
}

// Checks the Host header against the bound address and port; empty when accepted, else the
// reply to send.
std::optional<Reply> check_host(const http::request<http::string_body>& req, const Config& cfg) {
  if (req.count(http::field::host) != 1) {
    return error_reply(http::status::bad_request,
                       req.count(http::field::host) == 0
                           ? "missing Host header: HTTP/1.1 requests must name the server"
                           : "more than one Host header");
  }
  const std::string_view host = sv(req[http::field::host]);
  std::string_view name = host;
  std::string_view port_text;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) {
      return error_reply(http::status::bad_request, "malformed Host header");
    }
    name = host.substr(0, close + 1);
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return error_reply(http::status::bad_request, "malformed Host header");
      port_text = rest.substr(1);
    }
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port_text = host.substr(colon + 1);
  }
  unsigned port = 80;
  if (!port_text.empty()) {
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
      return error_reply(http::status::bad_request, "malformed Host header");
    }
  }
  const std::string lname = lower(name);
  const bool name_ok =
      cfg.any_host || std::find(cfg.hosts.begin(), cfg.hosts.end(), lname) != cfg.hosts.end();
  if (name_ok && port == cfg.port) return std::nullopt;
  std::string accepted;
  for (const std::string& h : cfg.hosts) {
    if (!accepted.empty()) accepted += ", ";
    accepted += h + ":" + std::to_string(cfg.port);
  }
  if (cfg.any_host) accepted = "any name with port " + std::to_string(cfg.port);
  return error_reply(
      http::status::misdirected_request,
      "Host '" + std::string(host) + "' is not this server; it answers to " + accepted);
}

bool authorized(const http::request<http::string_body>& req, std::string_view query,
                const Config& cfg) {
  const std::string& token = cfg.options.token;
  if (token.empty()) return true;
  bool ok = false;
  const std::string_view auth = sv(req[http::field::authorization]);
  if (auth.size() > 7 && lower(auth.substr(0, 7)) == "bearer ") {
    std::string_view given = auth.substr(7);
    while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
    while (!given.empty() && given.back() == ' ') given.remove_suffix(1);
    ok = constant_time_equal(given, token);
  }
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    if (param.substr(0, 6) == "token=") ok = constant_time_equal(param.substr(6), token) || ok;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return ok;
}

Reply route(const http::request<http::string_body>& req, const Config& cfg) {
  if (std::optional<Reply> bad_host = check_host(req, cfg)) return std::move(*bad_host);
  const std::string_view target = sv(req.target());
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  if (!authorized(req, query, cfg)) {
    Reply r = error_reply(http::status::unauthorized,
                          "this server requires its token: send 'Authorization: Bearer <token>' "
                          "or open /?token=<token>");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"trainflow\"");
    return r;
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    Reply r = error_reply(http::status::method_not_allowed,
                          "method " + std::string(sv(req.method_string())) +
                              " not allowed: this server is read-only (GET and HEAD)");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  Reply r;
  r.close = !req.keep_alive();
  try {
    if (path == "/") {
      r.content_type = "text/html; charset=utf-8";
      r.body = std::string(status_page_html());
      r.headers.emplace_back("Content-Security-Policy", std::string(kPagePolicy));
      r.headers.emplace_back("X-Frame-Options", "DENY");
      r.headers.emplace_back("Referrer-Policy", "no-referrer");
    } else if (path == "/api/run") {
      r.content_type = "application/json";
      r.body = cfg.status->json();
    } else if (path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = cfg.status->prometheus();
    } else {
      return error_reply(
          http::status::not_found,
          "no such page: '" + std::string(path) + "' (this server has /, /api/run and /metrics)");
    }
  } catch (const std::exception& e) {
    return error_reply(http::status::internal_server_error,
                       std::string("could not render the status: ") + e.what());
  }
  return r;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Config> cfg)
      : stream_(std::move(socket)),
        buffer_(2 * cfg->options.max_request_bytes + 16 * 1024),
        cfg_(std::move(cfg)) {}
  ~Session() { --cfg_->connections; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(cfg_->options.max_request_bytes, UINT32_MAX)));
    parser_->body_limit(cfg_->options.max_request_bytes);
    stream_.expires_after(cfg_->options.request_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec == http::error::header_limit) {
      return send(nullptr,
                  error_reply(http::status::request_header_fields_too_large,
                              "request head larger than " +
                                  std::to_string(cfg_->options.max_request_bytes) + " bytes"));
    }
    if (ec == http::error::body_limit) {
      return send(nullptr,
                  error_reply(http::status::payload_too_large,
                              "request body larger than " +
                                  std::to_string(cfg_->options.max_request_bytes) + " bytes"));
    }
    if (ec == http::error::buffer_overflow) {
      return send(nullptr, error_reply(http::status::request_header_fields_too_large,
                                       "request larger than this server accepts"));
    }
    if (ec) {
      // A parse error gets an answer; a broken connection does not.
      if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
        return send(nullptr, error_reply(http::status::bad_request,
                                         "malformed HTTP request: " + ec.message()));
      }
      return close();
    }
    const http::request<http::string_body>& req = parser_->get();
    send(&req, route(req, *cfg_));
  }

  // Writes `reply` (without its body for a HEAD request); `req` is null when none was parsed.
  void send(const http::request<http::string_body>* req, Reply reply) {
    const bool head = req && req->method() == http::verb::head;
    const unsigned version = req ? req->version() : 11;
    close_after_write_ = reply.close;
    auto fill = [&](auto& res) {
      res.set(http::field::server, "trainflow");
      res.set(http::field::content_type, reply.content_type);
      res.set(http::field::cache_control, "no-store");
      res.set("X-Content-Type-Options", "nosniff");
      for (const auto& [name, value] : reply.headers) res.set(name, value);
      res.content_length(reply.body.size());
      res.keep_alive(!reply.close);
    };
    stream_.expires_after(cfg_->options.request_timeout);
    if (head) {
      auto res = std::make_shared<http::response<http::empty_body>>(reply.status, version);
      fill(*res);
      http::async_write(
          stream_, *res,
          [self = shared_from_this(), res](error_code ec, std::size_t) { self->on_write(ec); });
    } else {
      auto res = std::make_shared<http::response<http::string_body>>(reply.status, version);
      fill(*res);
      res->body() = std::move(reply.body);
      http::async_write(
          stream_, *res,
          [self = shared_from_this(), res](error_code ec, std::size_t) { self->on_write(ec); });
    }
  }

  void on_write(error_code ec) {
    if (ec) return close();
    if (!close_after_write_) return read();
    // Our side is done; drop what the client still sends for a moment so that closing does not
    // reset the connection before it read the answer.
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kDrainTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kDrainBytes) return self->close();
                              self->drain();
                            });
  }

  void close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Config> cfg_;
  bool close_after_write_ = false;
  std::array<char, 4096> discard_{};
  std::size_t drained_ = 0;

 public:
  // Closes the connection at once. Only when the io_context runs no handler (after stop).
  void abort() { close(); }
};

}  // namespace

struct StatusServer::Impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  tcp::acceptor acceptor{io};
  asio::steady_timer retry_timer{io};
  std::shared_ptr<Config> cfg;
  std::thread thread;
  // Open sessions, to close them on stop (io thread only while it runs).
  std::vector<std::weak_ptr<Session>> sessions;
  std::mutex stop_mutex;
  bool stopped = false;

  void accept() {
    acceptor.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // E.g. out of file descriptors: try again shortly rather than spin.
        retry_timer.expires_after(std::chrono::milliseconds(100));
        retry_timer.async_wait([this](error_code timer_ec) {
          if (!timer_ec) accept();
        });
        return;
      }
      if (cfg->connections.load() >= cfg->options.max_connections) {
        // A canned answer without waiting: it fits in the socket's send buffer.
        static constexpr std::string_view kBusy =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: "
            "28\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections; retry\n";
        error_code ignored;
        socket.non_blocking(true, ignored);
        socket.write_some(asio::buffer(kBusy), ignored);
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
      } else {
        ++cfg->connections;
        std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
        auto session = std::make_shared<Session>(std::move(socket), cfg);
        sessions.push_back(session);
        session->start();
      }
      accept();
    });
  }
};

StatusServer::StatusServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StatusServer::~StatusServer() {
  stop();
}

Result<std::unique_ptr<StatusServer>> StatusServer::start(std::shared_ptr<const LiveStatus> status,
                                                          ServeOptions options) {
  assert(status != nullptr);
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec) {
    return invalid_argument("cannot serve the run status on '" + options.address +
                            "': not an IP address; give a numeric IPv4 or IPv6 address such as "
                            "127.0.0.1 or ::1");
  }
  const std::string where = host_form(address) + ":" + std::to_string(options.port);
  if (!options.token.empty()) {
    const bool charset_ok = std::all_of(options.token.begin(), options.token.end(), token_char);
    if (options.token.size() < 16 || !charset_ok) {
      return invalid_argument(
          "the status server's token must be at least 16 characters, each a letter, a digit or "
          "one of - . _ ~ (e.g. from `openssl rand -hex 16`)");
    }
  }
  if (!address.is_loopback() && options.token.empty()) {
    return invalid_argument("refusing to serve the run status on " + where +
                            " without a token: anyone who can reach that address could read it. "
                            "Set a token (trainflow run --serve-token, TRAINFLOW_SERVE_TOKEN, or "
                            "ServeOptions::token), or bind a loopback address such as 127.0.0.1");
  }
  if (options.max_request_bytes < 256) options.max_request_bytes = 256;
  if (options.max_connections == 0) options.max_connections = 1;
  if (options.request_timeout <= std::chrono::milliseconds::zero()) {
    options.request_timeout = std::chrono::milliseconds(1);
  }

  auto impl = std::make_unique<Impl>();
  const tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  "cannot serve the run status on " + where + ": " + ec.message() +
                      (ec == asio::error::address_in_use
                           ? " (another process listens there; pick another port, or port 0 for "
                             "any free one)"
                           : ""));
  }
  auto cfg = std::make_shared<Config>();
  cfg->status = std::move(status);
  cfg->address = address;
  cfg->port = impl->acceptor.local_endpoint(ec).port();
  if (address.is_loopback()) {
    cfg->hosts = {"localhost", "127.0.0.1", "[::1]"};
  }
  const std::string bound = host_form(address);
  if (std::find(cfg->hosts.begin(), cfg->hosts.end(), bound) == cfg->hosts.end()) {
    cfg->hosts.push_back(bound);
  }
  for (const std::string& h : options.allowed_hosts) cfg->hosts.push_back(lower(h));
  cfg->any_host = address.is_unspecified() && options.allowed_hosts.empty();
  cfg->options = std::move(options);
  impl->cfg = cfg;
  impl->accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    for (;;) {
      try {
        raw->io.run();
        return;
      } catch (...) {
        // A handler threw (out of memory): the server goes on with the next one.
      }
    }
  });
  return std::unique_ptr<StatusServer>(new StatusServer(std::move(impl)));
}

std::uint16_t StatusServer::port() const noexcept {
  return impl_->cfg->port;
}

std::string StatusServer::url() const {
  return "http://" + host_form(impl_->cfg->address) + ":" + std::to_string(impl_->cfg->port) + "/";
}

void StatusServer::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // The thread is gone: its objects may be touched here. Pending handlers (and the sessions they
  // hold) are destroyed with the io_context.
  error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->retry_timer.cancel();
  for (const std::weak_ptr<Session>& w : impl_->sessions) {
    if (std::shared_ptr<Session> session = w.lock()) session->abort();
  }
  impl_->sessions.clear();
}

}  // namespace trainflow::observe
