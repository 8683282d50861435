// Time stamps of trainflow's logs, traces and reports: ISO 8601 in UTC with milliseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace trainflow::observe {

// "2026-11-24T07:30:01.123Z". Times before 1970 or past year 9999 are printed as they come out
// of gmtime (still valid text, never a crash).
std::string iso_utc(std::chrono::system_clock::time_point time);

// The same for milliseconds since the Unix epoch.
std::string iso_utc_ms(std::int64_t ms_since_epoch);

}  // namespace trainflow::observe
