// Helpers shared by the ML tests.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"

namespace trainflow::ml {

// Dataset::make, failing the current test (and returning an empty dataset) on an error.
inline Dataset make_or_die(std::vector<Column> columns, std::string target = {}) {
  Result<Dataset> ds = Dataset::make(std::move(columns), std::move(target));
  EXPECT_TRUE(ds.has_value()) << ds.error().to_string();
  return ds.value_or(Dataset());
}

// The column names of `ds`, in order.
inline std::vector<std::string> names_of(const Dataset& ds) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ds.num_columns(); ++i) out.push_back(ds.column(i).name());
  return out;
}

// The values of numeric column `name` over the rows of `ds` (empty, failing the test, when there
// is no such column).
inline std::vector<double> values_of(const Dataset& ds, std::string_view name) {
  std::vector<double> out;
  const std::optional<std::size_t> col = ds.find(name);
  EXPECT_TRUE(col.has_value()) << name;
  if (!col) return out;
  for (std::size_t r = 0; r < ds.num_rows(); ++r) out.push_back(ds.numeric(*col, r));
  return out;
}

// Expects Fitted::from_bytes to reject, with kInvalidArgument, `bytes` with any one byte XORed
// with `mask`, and every proper prefix of `bytes`.
template <class Fitted>
void expect_every_corruption_rejected(const std::string& bytes, unsigned char mask) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ static_cast<char>(mask));
    Result<Fitted> bad = Fitted::from_bytes(flipped);
    ASSERT_FALSE(bad.has_value()) << "flipped byte " << i;
    EXPECT_EQ(bad.error().code(), StatusCode::kInvalidArgument);
  }
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(Fitted::from_bytes(std::string_view(bytes).substr(0, n)).has_value())
        << "truncated to " << n;
  }
}

}  // namespace trainflow::ml
