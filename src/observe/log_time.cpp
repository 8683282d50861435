#include "log_time.hpp"

#include <cstdio>
#include <ctime>

namespace trainflow::observe {

std::string iso_utc_ms(std::int64_t ms_since_epoch) {
  // Floor division, so that times before the epoch keep a millisecond part in [0, 999].
  std::int64_t seconds = ms_since_epoch / 1000;
  std::int64_t ms = ms_since_epoch % 1000;
  if (ms < 0) {
    ms += 1000;
    seconds -= 1;
  }
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "invalid-time";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buffer;
}

std::string iso_utc(std::chrono::system_clock::time_point time) {
  return iso_utc_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count());
}

}  // namespace trainflow::observe
