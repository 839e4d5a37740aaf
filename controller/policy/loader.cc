// Parses a version-1 policy into a Policy, validating as it goes. Sections
// are read in dependency order (classes before the rules and defaults that
// name them) whatever their order in the file; every problem is recorded and
// parsing carries on, so one run reports them all.
#include "controller/policy/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <new>
#include <sstream>

#include "controller/policy/schema.h"
#include "controller/policy/yaml_reader.h"

namespace tgs::policy {
namespace {

using internal::Describe;
using internal::Diagnostics;
using internal::Entry;
using internal::ForEachEntry;
using internal::ReadBool;
using internal::ReadByteSize;
using internal::ReadInt;
using internal::ReadNumber;
using internal::ReadString;
using internal::Suggest;

// sun_path holds 108 bytes including the terminating NUL.
constexpr size_t kMaxSocketPath = 107;
constexpr int kMaxWeight = 1000;

// Class names become metric label values and appear in tgsctl tables, so
// keep them to a conservative, case-free alphabet.
bool ValidClassName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(name.front())) return false;
  for (char c : name) {
    if (!lower_or_digit(c) && c != '-' && c != '_') return false;
  }
  return true;
}

std::optional<Kind> ParseKind(std::string_view text) {
  if (text == kProductionClass) return Kind::kProduction;
  if (text == kOpportunisticClass) return Kind::kOpportunistic;
  return std::nullopt;
}


class PolicyParser {
 public:
  explicit PolicyParser(Diagnostics& diag) : diag_(diag), policy_(DefaultPolicy()) {}

  std::optional<Policy> Parse(const YAML::Node& root) {
    policy_.source = diag_.file();
    YAML::Mark top = root.Mark();
    if (top.is_null()) top = YAML::Mark();  // line 0, column 0: the file's start
    if (!root.IsDefined() || root.IsNull()) {
      diag_.Error(top, "the policy is empty; it needs at least 'version: " + std::to_string(kSupportedVersion) + "'");
      return std::nullopt;
    }
    // The version decides how to read everything else, so settle it before
    // judging any other key: another version's sections may mean something
    // else entirely, and version 1's rules would only add noise.
    if (root.IsMap()) {
      bool found = false;
      for (auto it = root.begin(); it != root.end() && !found; ++it) {
        const YAML::Node key = it->first;  // a copy: the iterator's proxy is a temporary
        if (key.IsScalar() && key.Scalar() == "version") {
          found = true;
          if (!CheckVersion(Entry{"version", "version", key, it->second})) return std::nullopt;
        }
      }
      if (!found) {
        diag_.Error(top, "missing required key 'version' (this controller reads version " +
                             std::to_string(kSupportedVersion) + ")");
      }
    }
    std::optional<Entry> controller, control, defaults, classes, containers;
    bool is_map = ForEachEntry(root, top, "", {"version", "controller", "control", "defaults", "classes", "containers"},
                               diag_, [&](const Entry& e) {
                                 if (e.key == "controller") controller = e;
                                 if (e.key == "control") control = e;
                                 if (e.key == "defaults") defaults = e;
                                 if (e.key == "classes") classes = e;
                                 if (e.key == "containers") containers = e;
                               });
    if (!is_map) return std::nullopt;
    if (classes) ParseClasses(*classes);
    if (defaults) ParseDefaults(*defaults);
    if (controller) ParseController(*controller);
    if (control) ParseControl(*control);
    if (containers) ParseContainers(*containers);
    if (diag_.HasErrors()) return std::nullopt;
    return std::move(policy_);
  }

 private:
  bool CheckVersion(const Entry& e) {
    std::optional<int64_t> v = ReadInt(e, 0, 1'000'000, diag_);
    if (!v) return false;
    if (*v != kSupportedVersion) {
      diag_.Error(e.ValueMark(), "unsupported policy version " + std::to_string(*v) +
                                     " (this controller reads version " + std::to_string(kSupportedVersion) + ")");
      return false;
    }
    return true;
  }

  // Returns the class's kind, or nullopt (error recorded) if it is not defined.
  std::optional<Kind> ClassRef(const Entry& e, std::string* name) {
    std::optional<std::string> text = ReadString(e, false, diag_);
    if (!text) return std::nullopt;
    auto it = policy_.classes.find(*text);
    if (it == policy_.classes.end()) {
      std::vector<std::string> known;
      for (const auto& [n, spec] : policy_.classes) known.push_back(n);
      std::string message = e.path + ": unknown class '" + *text + "'";
      if (std::string guess = Suggest(*text, known); !guess.empty()) message += "; did you mean '" + guess + "'?";
      message += " (defined:";
      for (size_t i = 0; i < known.size(); ++i) message += (i ? ", " : " ") + known[i];
      diag_.Error(e.ValueMark(), message + ")");
      return std::nullopt;
    }
    *name = *text;
    return it->second.kind;
  }

  void ParseClasses(const Entry& section) {
    ForEachEntry(section.value, section.ValueMark(), section.path, {}, diag_, [&](const Entry& c) {
      if (!ValidClassName(c.key)) {
        diag_.Error(c.key_node.Mark(), c.path + ": invalid class name '" + c.key +
                                           "': use at most 63 lowercase letters, digits, '-' and '_', "
                                           "starting with a letter or digit");
      }
      ClassSpec& spec = policy_.classes[c.key];  // inserted even if broken: no "unknown class" cascades
      std::optional<Kind> builtin_kind;
      if (spec.builtin) builtin_kind = spec.kind;
      spec.line = c.key_node.Mark().line + 1;
      std::optional<Entry> kind, weight, oversubscribe, resident_limit;
      bool is_map = ForEachEntry(c.value, c.ValueMark(), c.path,
                                 {"kind", "weight", "memory_limit", "oversubscribe", "resident_limit"}, diag_,
                                 [&](const Entry& f) {
                                   if (f.key == "kind") kind = f;
                                   if (f.key == "weight") weight = f;
                                   if (f.key == "oversubscribe") oversubscribe = f;
                                   if (f.key == "resident_limit") resident_limit = f;
                                   if (f.key == "memory_limit") {
                                     if (auto bytes = ReadByteSize(f, diag_)) spec.memory_limit_bytes = *bytes;
                                   }
                                 });
      if (kind) {
        if (std::optional<std::string> text = ReadString(*kind, false, diag_)) {
          std::optional<Kind> k = ParseKind(*text);
          if (!k) {
            diag_.Error(kind->ValueMark(),
                        kind->path + ": expected production or opportunistic, got " + Describe(kind->value));
          } else if (builtin_kind && *k != *builtin_kind) {
            diag_.Error(kind->ValueMark(), kind->path + ": the built-in class '" + c.key + "' is always of kind " +
                                               std::string(KindName(*builtin_kind)));
          } else {
            spec.kind = *k;
          }
        }
      } else if (!builtin_kind && is_map) {
        diag_.Error(c.key_node.Mark(), c.path + ": missing 'kind' (production or opportunistic)");
      }
      if (weight) {
        if (auto w = ReadInt(*weight, 1, kMaxWeight, diag_)) {
          if (spec.kind == Kind::kProduction) {
            diag_.Error(weight->ValueMark(), weight->path +
                                                 ": weight shares the GPU among opportunistic containers; "
                                                 "class '" +
                                                 c.key + "' is of kind production");
          } else {
            spec.weight = static_cast<int>(*w);
          }
        }
      }
      if (oversubscribe) {
        if (auto b = ReadBool(*oversubscribe, diag_)) {
          if (*b && spec.kind == Kind::kProduction) {
            diag_.Error(oversubscribe->ValueMark(),
                        oversubscribe->path +
                            ": production memory is never oversubscribed (it would be evicted "
                            "to host under pressure); class '" +
                            c.key + "' is of kind production");
          } else {
            spec.oversubscribe = *b;
          }
        }
      }
      if (resident_limit) {
        if (auto bytes = ReadByteSize(*resident_limit, diag_)) {
          if (!spec.oversubscribe.value_or(spec.kind == Kind::kOpportunistic)) {
            diag_.Error(resident_limit->ValueMark(),
                        resident_limit->path + ": a resident limit applies only to oversubscribing classes; class '" +
                            c.key + "' " +
                            (spec.kind == Kind::kProduction ? std::string("is of kind production")
                                                            : std::string("sets oversubscribe: false")));
          } else {
            spec.resident_limit_bytes = *bytes;
          }
        }
      }
    });
  }

  void ParseDefaults(const Entry& section) {
    ForEachEntry(section.value, section.ValueMark(), section.path, {"class", "memory_limit"}, diag_,
                 [&](const Entry& e) {
                   if (e.key == "class") {
                     std::string name;
                     if (auto kind = ClassRef(e, &name)) {
                       policy_.defaults.class_name = name;
                       if (*kind == Kind::kProduction) {
                         diag_.Warning(e.ValueMark(), e.path +
                                                          ": every container no rule matches will be production: "
                                                          "never throttled, and protected like real production jobs");
                       }
                     }
                   } else if (e.key == "memory_limit") {
                     if (auto bytes = ReadByteSize(e, diag_)) policy_.defaults.memory_limit_bytes = *bytes;
                   }
                 });
  }

  std::optional<std::string> ReadAbsolutePath(const Entry& e, size_t max_length, std::string_view what) {
    std::optional<std::string> path = ReadString(e, false, diag_);
    if (!path) return std::nullopt;
    if (path->front() != '/') {
      diag_.Error(e.ValueMark(), e.path + ": must be an absolute path, got " + Describe(e.value));
      return std::nullopt;
    }
    if (path->size() > max_length) {
      diag_.Error(e.ValueMark(), e.path + ": is " + std::to_string(path->size()) + " bytes long; " + std::string(what) +
                                     " can have at most " + std::to_string(max_length));
      return std::nullopt;
    }
    return path;
  }

  void ParseController(const Entry& section) {
    ControllerSettings& c = policy_.controller;
    std::optional<Entry> admin, state, grants;
    ForEachEntry(section.value, section.ValueMark(), section.path,
                 {"socket", "admin_socket", "metrics_listen", "state_dir", "grant_dir", "unshimmed"}, diag_,
                 [&](const Entry& e) {
                   if (e.key == "socket") {
                     if (auto p = ReadAbsolutePath(e, kMaxSocketPath, "a Unix socket path")) c.socket = *p;
                   } else if (e.key == "admin_socket") {
                     admin = e;
                     if (auto p = ReadAbsolutePath(e, kMaxSocketPath, "a Unix socket path")) c.admin_socket = *p;
                   } else if (e.key == "state_dir") {
                     state = e;
                     if (auto p = ReadAbsolutePath(e, PATH_MAX - 1, "a path")) c.state_dir = *p;
                   } else if (e.key == "grant_dir") {
                     grants = e;
                     if (auto p = ReadAbsolutePath(e, PATH_MAX - 1, "a path")) c.grant_dir = *p;
                   } else if (e.key == "metrics_listen") {
                     if (auto text = ReadString(e, true, diag_)) {
                       if (!text->empty() && !ValidListenAddress(*text)) {
                         diag_.Error(e.ValueMark(), e.path +
                                                        ": expected host:port (127.0.0.1:9400, [::1]:9400, "
                                                        "0.0.0.0:9400) or \"\" to disable metrics, got " +
                                                        Describe(e.value));
                       } else {
                         c.metrics_listen = *text;
                       }
                     }
                   } else if (e.key == "unshimmed") {
                     if (auto text = ReadString(e, false, diag_)) {
                       if (*text == "report") {
                         c.kill_unshimmed = false;
                       } else if (*text == "kill") {
                         c.kill_unshimmed = true;
                       } else {
                         diag_.Error(e.ValueMark(), e.path + ": expected report or kill, got " + Describe(e.value));
                       }
                     }
                   }
                 });
    auto dir = [](const std::string& path) { return path.substr(0, path.find_last_of('/') + 1); };
    if (c.socket == c.admin_socket) {
      // Shims are unprivileged clients; sharing the admin socket would hand
      // them tgsctl's powers.
      diag_.Error(admin ? admin->ValueMark() : section.ValueMark(),
                  "controller.admin_socket: must differ from controller.socket ('" + c.socket + "')");
    } else if (dir(c.socket) == dir(c.admin_socket)) {
      // The shims' socket directory is what containers get mounted (the
      // socket file itself changes at every controller start), and root in a
      // container would then reach the admin socket beside it.
      diag_.Error(admin ? admin->ValueMark() : section.ValueMark(),
                  "controller.admin_socket: must not be in the directory of controller.socket (" + dir(c.socket) +
                      "), which is mounted into containers");
    }
    // The same directory would hand a container every container's state
    // file, or every grant (a production class socket among them).
    auto inside = [&](const std::string& path) { return (path + "/").starts_with(dir(c.socket)); };
    if (inside(c.state_dir)) {
      diag_.Error(state ? state->ValueMark() : section.ValueMark(),
                  "controller.state_dir: must not be inside the directory of controller.socket (" + dir(c.socket) +
                      "), which is mounted into containers: their root could rewrite every container's accounting");
    }
    if (inside(c.grant_dir)) {
      diag_.Error(grants ? grants->ValueMark() : section.ValueMark(),
                  "controller.grant_dir: must not be inside the directory of controller.socket (" + dir(c.socket) +
                      "), which is mounted into containers: they would reach every class's socket");
    }
  }

  void ParseControl(const Entry& section) {
    std::vector<std::string_view> names;
    for (const ControlField& f : ControlFields()) names.push_back(f.key);
    std::map<std::string, YAML::Mark, std::less<>> given;
    bool failed = false;
    ForEachEntry(section.value, section.ValueMark(), section.path, names, diag_, [&](const Entry& e) {
      for (const ControlField& f : ControlFields()) {
        if (f.key != e.key) continue;
        given.emplace(e.key, e.ValueMark());
        if (auto* int_field = std::get_if<int ControlParams::*>(&f.field)) {
          auto v = ReadInt(e, static_cast<int64_t>(f.min), static_cast<int64_t>(f.max), diag_);
          if (v) policy_.control.*(*int_field) = static_cast<int>(*v);
          failed |= !v;
        } else if (auto* bool_field = std::get_if<bool ControlParams::*>(&f.field)) {
          auto v = ReadBool(e, diag_);
          if (v) policy_.control.*(*bool_field) = *v;
          failed |= !v;
        } else {
          auto v = ReadNumber(e, f.min, f.max, diag_);
          if (v) policy_.control.*std::get<double ControlParams::*>(f.field) = *v;
          failed |= !v;
        }
      }
    });
    if (failed) return;  // cross-field checks on half-parsed values would mislead
    const ControlParams& p = policy_.control;
    auto where = [&](std::string_view preferred, std::string_view other) {
      if (auto it = given.find(preferred); it != given.end()) return it->second;
      if (auto it = given.find(other); it != given.end()) return it->second;
      return section.ValueMark();
    };
    if (p.restart_below >= p.production_target) {
      diag_.Error(where("restart_below", "production_target"), "control.restart_below (" + Num(p.restart_below) +
                                                                   ") must be below control.production_target (" +
                                                                   Num(p.production_target) + ")");
    }
    if (p.idle_release_ms < p.interval_ms) {
      diag_.Error(where("idle_release_ms", "interval_ms"),
                  "control.idle_release_ms (" + std::to_string(p.idle_release_ms) +
                      ") must be at least control.interval_ms (" + std::to_string(p.interval_ms) +
                      "): idleness is judged from whole samples");
    }
    if (p.profile_ms < p.interval_ms) {
      diag_.Error(where("profile_ms", "interval_ms"),
                  "control.profile_ms (" + std::to_string(p.profile_ms) + ") must be at least control.interval_ms (" +
                      std::to_string(p.interval_ms) + "): a solo rate needs at least one whole sample");
    }
  }

  static std::string Num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }

  void ParseContainers(const Entry& section) {
    const YAML::Node& list = section.value;
    if (!list.IsDefined() || list.IsNull()) return;
    if (!list.IsSequence()) {
      diag_.Error(section.ValueMark(), section.path + ": expected a list of rules, got " + Describe(list));
      return;
    }
    size_t index = 0;
    for (auto it = list.begin(); it != list.end(); ++it, ++index) {
      ParseRule(*it, section.path + "[" + std::to_string(index) + "]", section.ValueMark());
    }
  }

  void ParseRule(const YAML::Node& node, const std::string& path, const YAML::Mark& list_mark) {
    YAML::Mark mark = node.Mark().is_null() ? list_mark : node.Mark();
    if (!node.IsMap()) {
      diag_.Error(mark, path + ": expected a rule (a map with match, class, ...), got " + Describe(node));
      return;
    }
    Rule rule;
    rule.line = mark.line + 1;
    rule.class_name = policy_.defaults.class_name;
    std::optional<Kind> kind;  // of the rule's class, once known to exist
    if (auto it = policy_.classes.find(rule.class_name); it != policy_.classes.end()) kind = it->second.kind;
    std::optional<Entry> match, weight;
    ForEachEntry(node, mark, path, {"match", "class", "memory_limit", "weight"}, diag_, [&](const Entry& e) {
      if (e.key == "match") match = e;
      if (e.key == "weight") weight = e;
      if (e.key == "class") kind = ClassRef(e, &rule.class_name);
      if (e.key == "memory_limit") {
        if (auto bytes = ReadByteSize(e, diag_)) rule.memory_limit_bytes = *bytes;
      }
    });
    if (!match) {
      diag_.Error(mark, path + ": missing 'match' (give at least one of id, cgroup, labels)");
    } else {
      ParseMatch(*match, &rule.match);
    }
    if (weight) {
      if (auto w = ReadInt(*weight, 1, kMaxWeight, diag_)) {
        if (kind == Kind::kProduction) {
          diag_.Error(weight->ValueMark(), weight->path +
                                               ": weight shares the GPU among opportunistic containers; "
                                               "class '" +
                                               rule.class_name + "' is of kind production");
        } else {
          rule.weight = static_cast<int>(*w);
        }
      }
    }
    for (size_t i = 0; i < policy_.rules.size(); ++i) {
      const Match& earlier = policy_.rules[i].match;
      if (!rule.match.Empty() && earlier.id == rule.match.id && earlier.cgroup_glob == rule.match.cgroup_glob &&
          earlier.labels == rule.match.labels) {
        diag_.Warning(mark, path + " never matches: containers[" + std::to_string(i) + "] (line " +
                                std::to_string(policy_.rules[i].line) + ") has the same conditions and comes first");
        break;
      }
    }
    policy_.rules.push_back(std::move(rule));
  }

  void ParseMatch(const Entry& section, Match* match) {
    size_t conditions = 0;
    bool is_map = ForEachEntry(
        section.value, section.ValueMark(), section.path, {"id", "cgroup", "labels"}, diag_, [&](const Entry& e) {
          ++conditions;
          if (e.key == "id") {
            if (auto id = ReadString(e, false, diag_)) match->id = *id;
          } else if (e.key == "cgroup") {
            auto glob = ReadString(e, false, diag_);
            if (glob && std::string_view("/*?[").find(glob->front()) == std::string_view::npos) {
              diag_.Error(e.ValueMark(),
                          e.path + ": pattern '" + *glob + "' can never match: cgroup paths start with '/'");
            } else if (glob) {
              match->cgroup_glob = *glob;
            }
          } else if (e.key == "labels") {
            ParseLabels(e, match);
          }
        });
    if (is_map && conditions == 0) {
      diag_.Error(section.ValueMark(), section.path +
                                           ": empty match; give at least one of id, cgroup, labels "
                                           "(the defaults section covers every other container)");
    }
  }

  void ParseLabels(const Entry& section, Match* match) {
    size_t count = 0;
    bool is_map = ForEachEntry(section.value, section.ValueMark(), section.path, {}, diag_, [&](const Entry& e) {
      ++count;
      if (e.key.empty()) {
        diag_.Error(e.key_node.Mark(), section.path + ": label names must not be empty");
        return;
      }
      // Kubernetes label values may be empty, so "" is a real value to match.
      if (auto value = ReadString(e, true, diag_)) match->labels[e.key] = *value;
    });
    if (is_map && count == 0) {
      diag_.Error(section.ValueMark(), section.path + ": no labels listed; name at least one or leave labels out");
    }
  }

  Diagnostics& diag_;
  Policy policy_;
};

// Records where each document of a stream starts, and nothing else.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> marks;
};

// Checks that `text` is exactly one document before YAML::Load builds it.
// yaml-cpp 0.7 cannot be trusted with this itself: a token that starts no
// node (a stray ',' at document level) is never consumed, so YAML::Load
// silently returns an empty document and YAML::LoadAll loops forever,
// allocating (jbeder/yaml-cpp#1040, fixed upstream after 0.8). A document
// starting where the previous one did is that stuck state.
bool SingleDocument(const std::string& text, Diagnostics& diag) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentStarts starts;
  while (parser.HandleNextDocument(starts)) {
    const std::vector<YAML::Mark>& m = starts.marks;
    if (m.size() >= 2 && m[m.size() - 1].pos == m[m.size() - 2].pos) {
      const YAML::Mark& at = m.back();
      std::string what = at.pos >= 0 && static_cast<size_t>(at.pos) < text.size()
                             ? "'" + std::string(1, text[static_cast<size_t>(at.pos)]) + "'"
                             : "token";
      diag.Error(at, "YAML syntax error: unexpected " + what + " where a value should start");
      return false;
    }
    if (m.size() == 2) break;  // already one too many
  }
  if (starts.marks.size() > 1) {
    diag.Error(starts.marks[1], "only one YAML document is allowed; remove the '---' separators");
    return false;
  }
  return true;
}

LoadResult Finish(Diagnostics& diag, std::optional<Policy> policy) {
  LoadResult result;
  result.errors = diag.TakeErrors();
  // Warnings about a half-parsed policy (a rule "shadowed" by one whose
  // other condition failed to parse) would mislead, so only a policy that
  // loads gets them.
  if (result.errors.empty()) {
    result.warnings = diag.TakeWarnings();
    result.policy = std::move(policy);
  }
  return result;
}

}  // namespace

std::string PolicyError::ToString() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::string LoadResult::ErrorText() const {
  std::string text;
  for (const PolicyError& e : errors) text += e.ToString() + "\n";
  return text;
}

LoadResult LoadPolicyText(std::string_view text, std::string_view name) {
  Diagnostics diag{std::string(name)};
  std::optional<Policy> policy;
  try {
    if (text.size() > kMaxPolicyBytes) {
      diag.Error(YAML::Mark::null_mark(), "is " + std::to_string(text.size()) + " bytes; a policy may have at most " +
                                              std::to_string(kMaxPolicyBytes));
      return Finish(diag, std::nullopt);
    }
    std::string copy(text);
    if (SingleDocument(copy, diag)) {
      PolicyParser parser(diag);
      policy = parser.Parse(YAML::Load(copy));
    }
  } catch (const YAML::Exception& e) {
    // ParserException (syntax) and its DeepRecursion subclass carry the
    // position; anything else from yaml-cpp would be a bug in this parser.
    diag.Error(e.mark, "YAML syntax error: " + e.msg);
  } catch (const std::bad_alloc&) {
    diag.Error(YAML::Mark::null_mark(), "out of memory while reading the policy");
  } catch (const std::exception& e) {
    diag.Error(YAML::Mark::null_mark(), std::string("internal error while reading the policy: ") + e.what());
  }
  if (diag.HasErrors()) policy.reset();
  try {
    return Finish(diag, std::move(policy));
  } catch (...) {
    // Only bad_alloc can get here; an empty result still says "not ok".
    LoadResult failed;
    return failed;
  }
}

LoadResult LoadPolicyFile(const std::string& path) {
  auto fail = [&](std::string message) {
    LoadResult result;
    result.errors.push_back(PolicyError{path, 0, 0, std::move(message)});
    return result;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    int saved = S_ISDIR(st.st_mode) ? EISDIR : errno;
    ::close(fd);
    return fail(std::string("cannot read: ") + std::strerror(saved));
  }
  // Read to EOF rather than trusting st_size, so pipes such as
  // `--check-config <(generate)` work too.
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      return fail(std::string("cannot read: ") + std::strerror(saved));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxPolicyBytes) {
      ::close(fd);
      return fail("larger than " + std::to_string(kMaxPolicyBytes) +
                  " bytes; a policy is a few KiB, is this the right file?");
    }
  }
  ::close(fd);
  return LoadPolicyText(text, path);
}

// "host:port" with a bracketed IPv6 host; port 0 (any free port) is allowed
// because tests bind that way.
bool ValidListenAddress(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find("]:");
    if (close == std::string_view::npos) return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return false;  // unbracketed IPv6
  }
  if (host.empty() || port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

}  // namespace tgs::policy
