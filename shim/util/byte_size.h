// Parsing and printing of byte sizes as operators write them: "512MiB",
// "2GiB", "1.5GB", "4096". Shared by the shim, the simulated GPU and the
// controller so that every TGS_* size means the same thing everywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tgs {

// Accepts a decimal number (optionally with a fraction) followed by an
// optional unit: B, K/KB, KiB, M/MB, MiB, G/GB, GiB, T/TB, TiB (case
// insensitive; SI units are powers of 1000, binary units of 1024, a bare
// K/M/G/T is binary as in `ulimit`). On failure returns nullopt and, if
// `error` is given, says what is wrong with the text.
std::optional<uint64_t> ParseByteSize(std::string_view text, std::string* error = nullptr);

// "1.50 GiB", "512.00 MiB", "17 B": for logs and tables.
std::string FormatByteSize(uint64_t bytes);

}  // namespace tgs
