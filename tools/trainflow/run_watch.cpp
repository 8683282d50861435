#include "run_watch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "command.hpp"

namespace trainflow::cli {
namespace {

constexpr std::chrono::milliseconds kRedraw{200};

sigset_t interrupt_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

std::size_t terminal_columns() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

// `text` cut to at most `bytes` bytes, not inside a UTF-8 sequence.
std::string cut(std::string text, std::size_t bytes) {
  if (text.size() <= bytes) return text;
  while (bytes > 0 && (static_cast<unsigned char>(text[bytes]) & 0xC0) == 0x80) --bytes;
  text.resize(bytes);
  return text;
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed terminal: the run goes on without its display
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

void block_interrupt_signals() {
  const sigset_t set = interrupt_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

RunWatch::RunWatch(RunHandle run, bool progress_line, std::size_t stages)
    : run_(std::move(run)), progress_line_(progress_line), stages_(stages) {
  const sigset_t set = interrupt_signals();
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) {
    std::fprintf(stderr, "trainflow: cannot watch for signals (%s); Ctrl-C ends the process\n",
                 std::strerror(errno));
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }
  int wake[2];
  if (pipe2(wake, O_CLOEXEC) != 0) {
    // Without a way to wake the thread there is no thread: signals end the process as usual.
    std::fprintf(stderr, "trainflow: cannot watch the run (%s)\n", std::strerror(errno));
    if (signal_fd_ >= 0) ::close(std::exchange(signal_fd_, -1));
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    return;
  }
  wake_read_ = wake[0];
  wake_write_ = wake[1];
  std::fflush(stdout);  // what the command printed so far comes before the progress line
  thread_ = std::thread([this] { watch(); });
}

RunWatch::~RunWatch() {
  stop();
  if (signal_fd_ >= 0) ::close(signal_fd_);
  if (wake_read_ >= 0) ::close(wake_read_);
  if (wake_write_ >= 0) ::close(wake_write_);
}

void RunWatch::stop() {
  if (!thread_.joinable()) return;
  const char byte = 0;
  while (::write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
  if (line_shown_) erase();
}

void RunWatch::watch() {
  pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
  auto next_draw = std::chrono::steady_clock::now() + kRedraw;
  for (;;) {
    int timeout_ms = -1;
    if (progress_line_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          next_draw - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    const int ready = ::poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;  // stop()
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      if (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        if (line_shown_) erase();
        if (interrupted_.exchange(true, std::memory_order_acq_rel)) {
          write_all(STDERR_FILENO, "trainflow: interrupted again; exiting\n");
          ::_exit(kExitInterrupted);
        }
        run_.cancel();
        write_all(STDERR_FILENO,
                  std::string("trainflow: ") + (info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM") +
                      ": cancelling the run: no new stages start, running ones are asked to "
                      "stop (signal again to exit at once)\n");
      }
    }
    if (progress_line_ && std::chrono::steady_clock::now() >= next_draw) {
      draw();
      next_draw = std::chrono::steady_clock::now() + kRedraw;
    }
  }
}

void RunWatch::draw() {
  const RunProgress p = run_.progress(16, stages_);
  char tail[64];
  std::snprintf(tail, sizeof tail, " | %.1f s", std::chrono::duration<double>(p.elapsed).count());
  std::string head = "[" + std::to_string(p.resolved()) + "/" + std::to_string(p.total) + "] ";
  if (interrupted()) head += "cancelling, ";
  head += std::to_string(p.running) + " running";
  // One column is left free: a line that fills the terminal wraps on some terminals.
  const std::size_t width = terminal_columns() - 1;
  std::string names;
  for (std::size_t i = 0; i < p.running_stages.size(); ++i) {
    const std::string next = (i == 0 ? ": " : ", ") + p.running_stages[i];
    const bool last = i + 1 == p.running_stages.size() && p.running == p.running_stages.size();
    const std::size_t more = last ? 0 : 5;  // room for ", ..."
    if (head.size() + names.size() + next.size() + more + std::strlen(tail) > width) {
      names += i == 0 ? ": ..." : ", ...";
      break;
    }
    names += next;
    if (i + 1 == p.running_stages.size() && !last) names += ", ...";
  }
  write_all(STDOUT_FILENO, "\r" + cut(head + names + tail, width) + "\x1b[K");
  line_shown_ = true;
}

void RunWatch::erase() {
  write_all(STDOUT_FILENO, "\r\x1b[K");
  line_shown_ = false;
}

}  // namespace trainflow::cli
