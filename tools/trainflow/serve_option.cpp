// `--serve`: a StatusServer over a LiveStatus of the run, started before it and, with
// --serve-linger, kept for a while after it.
#include "serve_option.hpp"

#include <signal.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iostream>
#include <string_view>

namespace trainflow::cli {
namespace {

constexpr std::uint16_t kDefaultServePort = 8470;

Status bad_address(const std::string& text, const std::string& why) {
  return invalid_argument(
      "--serve=" + text + ": " + why +
      "; expected ADDR:PORT with a numeric address, e.g. --serve=127.0.0.1:8470, "
      "--serve=[::1]:0 or --serve=:9000 (port 0: any free port)");
}

}  // namespace

void add_serve_options(CLI::App* cmd, ServeSettings& settings) {
  cmd->add_flag(std::string("--serve{") + kDefaultServeAddress + "}", settings.address,
                std::string("Serve the run's live status over HTTP (a page at /, /api/run, "
                            "/metrics); --serve=ADDR:PORT to choose where (default ") +
                    kDefaultServeAddress + "; port 0: any free port)");
  cmd->add_option("--serve-token", settings.token,
                  "Require this token of every HTTP request (Authorization: Bearer, or "
                  "?token= in the page's URL); needed to serve on an address that is not "
                  "loopback. At least 16 characters of A-Z a-z 0-9 - . _ ~")
      ->envname("TRAINFLOW_SERVE_TOKEN");
  cmd->add_option("--serve-linger", settings.linger_seconds,
                  "With --serve: keep serving this many seconds after the run ended (default 0)")
      ->check(CLI::NonNegativeNumber);
}

Result<observe::ServeOptions> parse_serve_address(const std::string& text) {
  observe::ServeOptions options;
  std::string_view host = text;
  std::string_view port;
  bool has_port = false;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return bad_address(text, "no ']' after the IPv6 address");
    const std::string_view rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad_address(text, "expected ':' after ']'");
      port = rest.substr(1);
      has_port = true;
    }
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    const std::size_t colon = host.find(':');
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
    has_port = true;
  } else if (!host.empty() &&
             std::all_of(host.begin(), host.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    port = host;  // only a port
    host = {};
    has_port = true;
  }
  if (!host.empty()) options.address = std::string(host);
  options.port = kDefaultServePort;
  if (has_port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
      return bad_address(text, "'" + std::string(port) + "' is not a port number (0 to 65535)");
    }
    options.port = static_cast<std::uint16_t>(value);
  }
  return options;
}

Result<std::unique_ptr<ServeSession>> start_serve(const ServeSettings& settings,
                                                  const Graph& graph) {
  if (settings.address.empty()) return std::unique_ptr<ServeSession>();
  Result<observe::ServeOptions> options = parse_serve_address(settings.address);
  if (!options) return options.error();
  options->token = settings.token;
  auto session = std::make_unique<ServeSession>();
  session->status = std::make_shared<observe::LiveStatus>(graph);
  session->linger_seconds = settings.linger_seconds;
  Result<std::unique_ptr<observe::StatusServer>> server =
      observe::StatusServer::start(session->status, std::move(*options));
  if (!server) return server.error();
  session->server = std::move(*server);
  std::cerr << "trainflow: live status at " << session->server->url()
            << (settings.token.empty() ? "" : " (add ?token=<your token> to open it)") << "\n";
  return session;
}

void ServeSession::linger() const {
  if (!server || !(linger_seconds > 0)) return;
  std::cerr << "trainflow: the run ended; serving " << server->url() << " for " << linger_seconds
            << " s more (Ctrl-C stops)\n";
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const double whole = std::floor(std::min(linger_seconds, 1e9));
  timespec timeout{static_cast<time_t>(whole),
                   static_cast<long>((std::min(linger_seconds, 1e9) - whole) * 1e9)};
  // Returns on a signal or when the time is up; EINTR (another signal) also ends the wait.
  sigtimedwait(&set, nullptr, &timeout);
}

}  // namespace trainflow::cli
