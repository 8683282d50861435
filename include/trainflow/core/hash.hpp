// Hashing: stable 64-bit content hashes (xxHash XXH3), the same on every run and machine.
//
// Stage seeds and cache keys are built from these; they never change between releases of the
// same major version. Thread-safe.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trainflow {

// XXH3-64 of `size` bytes at `data`, with `seed`.
std::uint64_t hash_bytes(const void* data, std::size_t size, std::uint64_t seed = 0) noexcept;

// XXH3-64 of the characters of `text`, with `seed`.
inline std::uint64_t hash64(std::string_view text, std::uint64_t seed = 0) noexcept {
  return hash_bytes(text.data(), text.size(), seed);
}

// A 128-bit content digest (XXH3-128): names stored artifacts and verifies them on every read.
// Not a cryptographic hash: it detects corruption and accidental collisions (about 2^-64 for
// 2^32 artifacts), not an adversary who can write to the store.
struct Digest {
  std::uint64_t high = 0;
  std::uint64_t low = 0;

  // 32 lowercase hex digits, high half first.
  std::string hex() const;
  // The digest that hex() printed; std::nullopt for anything but 32 hex digits.
  static std::optional<Digest> parse(std::string_view hex);

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;
};

// XXH3-128 of `size` bytes at `data`.
Digest digest_bytes(const void* data, std::size_t size) noexcept;
inline Digest digest(std::string_view bytes) noexcept {
  return digest_bytes(bytes.data(), bytes.size());
}

// The seed of the stage called `stage_name` in a run seeded with `run_seed`.
inline std::uint64_t stage_seed(std::uint64_t run_seed, std::string_view stage_name) noexcept {
  return hash64(stage_name, run_seed);
}

}  // namespace trainflow
