// Reading one CDI spec file: JSON (*.json) or YAML (*.yaml, *.yml), as the
// CDI spec directories hold both (JSON is what `tgsctl cdi generate` writes;
// other vendors' generators often write YAML).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace tgs::oci {

// Whether the file name has a CDI spec extension.
bool IsSpecFileName(std::string_view name);

// The spec as JSON. YAML plain scalars become numbers, booleans or null
// where YAML 1.2's core schema reads them so ("12", "true", "~"); quoted
// scalars stay strings. nullopt with `*error` naming the file and position.
std::optional<nlohmann::json> ReadSpecFile(const std::string& path, std::string* error);

// The same on text (for tests); `name` stands for the file in messages and
// its extension picks the format.
std::optional<nlohmann::json> ParseSpecText(std::string_view text, const std::string& name, std::string* error);

}  // namespace tgs::oci
