#include "container/runtime/spec_file.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace tgs::oci {
namespace {

// Spec files are a few KiB; anything far larger is not a spec.
constexpr size_t kMaxSpecBytes = 4 << 20;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A plain (unquoted) YAML scalar as YAML 1.2's core schema types it.
nlohmann::json PlainScalar(const std::string& text) {
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (std::regex_match(text, kInt)) {
    errno = 0;
    long long v = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == 0) return v;
  }
  if (std::regex_match(text, kFloat)) return std::strtod(text.c_str(), nullptr);
  return text;
}

nlohmann::json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // "!" marks a quoted scalar, which is always a string.
      return node.Tag() == "!" ? nlohmann::json(node.Scalar()) : PlainScalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const YAML::Node& item : node) array.push_back(ToJson(item));
      return array;
    }
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& entry : node) object[entry.first.as<std::string>()] = ToJson(entry.second);
      return object;
    }
  }
  return nullptr;
}

}  // namespace

bool IsSpecFileName(std::string_view name) {
  return EndsWith(name, ".json") || EndsWith(name, ".yaml") || EndsWith(name, ".yml");
}

std::optional<nlohmann::json> ParseSpecText(std::string_view text, const std::string& name, std::string* error) {
  if (EndsWith(name, ".json")) {
    try {
      return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      *error = name + ": not valid JSON: " + e.what();
      return std::nullopt;
    }
  }
  try {
    return ToJson(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    *error = name + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg;
  } catch (const std::exception& e) {
    *error = name + ": " + e.what();
  }
  return std::nullopt;
}

std::optional<nlohmann::json> ReadSpecFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  text.resize(kMaxSpecBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxSpecBytes) {
    *error = path + ": larger than " + std::to_string(kMaxSpecBytes) + " bytes; not a CDI spec";
    return std::nullopt;
  }
  return ParseSpecText(text, path, error);
}

}  // namespace tgs::oci
