#include "trainflow/core/hash.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace trainflow {
namespace {

TEST(HashTest, SameInputSameOutput) {
  const std::string a = "train/epoch";
  const std::string b = "train/epoch";
  EXPECT_EQ(hash64(std::string_view{a}), hash64(std::string_view{b}));
  EXPECT_EQ(hash_bytes(a.data(), a.size(), 99), hash_bytes(b.data(), b.size(), 99));
}

// XXH3-64 is specified; these values must not change between runs, machines or releases.
TEST(HashTest, MatchesXxh3ReferenceValue) {
  EXPECT_EQ(hash64(std::string_view{}), 0x2D06800538D394C2ULL);
  EXPECT_EQ(hash_bytes(nullptr, 0, 0), 0x2D06800538D394C2ULL);
}

// XXH3-128 likewise (the reference value of the empty input, from xxHash's specification).
TEST(DigestTest, MatchesXxh3_128ReferenceValue) {
  EXPECT_EQ(digest(std::string_view{}).hex(), "99aa06d3014798d86001c324468d497f");
}

TEST(DigestTest, HexRoundTripsAndParseRejectsMalformedText) {
  const Digest d = digest("artifact bytes");
  EXPECT_EQ(Digest::parse(d.hex()), d);
  EXPECT_NE(digest("artifact bytes").hex(), digest("artifact bytez").hex());
  EXPECT_EQ(Digest::parse("00000000000000010000000000000002"), (Digest{1, 2}));
  EXPECT_EQ(Digest::parse(""), std::nullopt);
  EXPECT_EQ(Digest::parse(std::string(31, '0')), std::nullopt);
  EXPECT_EQ(Digest::parse(std::string(33, '0')), std::nullopt);
  EXPECT_EQ(Digest::parse("0000000000000000000000000000000G"), std::nullopt);
  EXPECT_EQ(Digest::parse("0000000000000000000000000000000A"), std::nullopt);  // lowercase only
  EXPECT_EQ(Digest::parse("../0000000000000000000000000000a"), std::nullopt);
}

TEST(HashTest, DiffersByInputAndSeed) {
  const std::string_view text = "stage";
  EXPECT_NE(hash64(text), hash64(std::string_view{"stagf"}));
  EXPECT_NE(hash64(text, 1), hash64(text, 2));
  EXPECT_NE(hash64(text), hash64(std::string_view{"stage "}));
}

TEST(HashTest, StringViewOverloadHashesItsBytes) {
  const std::string_view text = "abc";
  EXPECT_EQ(hash64(text, 5), hash_bytes(text.data(), text.size(), 5));
}

// hash64("abc", seed) hashes the characters with `seed` (raw bytes go through hash_bytes, so a
// literal and a seed can never be taken for a pointer and a size).
TEST(HashTest, StringLiteralWithSeedHashesItsCharacters) {
  EXPECT_EQ(hash64("abc", 2), hash64(std::string_view{"abc"}, 2));
  EXPECT_NE(hash64("abc", 0), hash64(std::string_view{}, 0));
}

TEST(HashTest, StageSeedIsHashOfNameSeededByRunSeed) {
  EXPECT_EQ(stage_seed(7, "train"), hash64(std::string_view{"train"}, 7));
  EXPECT_EQ(stage_seed(7, "train"), stage_seed(7, "train"));
}

TEST(HashTest, StageSeedDiffersByNameAndRunSeed) {
  std::set<std::uint64_t> seeds;
  for (std::uint64_t run : {0u, 1u, 2u}) {
    for (const char* name : {"a", "b", "train", "eval"}) seeds.insert(stage_seed(run, name));
  }
  EXPECT_EQ(seeds.size(), 12u);
}

}  // namespace
}  // namespace trainflow
