#include "shim/protocol/messages.h"

#include <cstring>
#include <type_traits>

namespace tgs::protocol {
namespace {

static_assert(std::is_trivially_copyable_v<Hello> && std::is_trivially_copyable_v<Welcome> &&
              std::is_trivially_copyable_v<Attached> && std::is_trivially_copyable_v<Reject>);
static_assert(sizeof(Header) == 16);

template <typename T>
void StampAs(T& m, MessageType type) {
  m.header.magic = kMagic;
  m.header.version = kVersion;
  m.header.type = static_cast<uint16_t>(type);
  m.header.size = sizeof(T);
  m.header.reserved = 0;
}

template <size_t N>
bool Terminated(const char (&field)[N]) {
  return std::memchr(field, '\0', N) != nullptr;
}

template <typename T>
std::optional<Message> As(std::span<const uint8_t> packet, const char* name, std::string* error) {
  if (packet.size() != sizeof(T)) {
    *error = "size " + std::to_string(packet.size()) + ", expected " + std::to_string(sizeof(T)) + " for " + name;
    return std::nullopt;
  }
  T m;
  std::memcpy(&m, packet.data(), sizeof m);
  if (m.header.size != sizeof(T)) {
    *error = std::string(name) + " header says size " + std::to_string(m.header.size);
    return std::nullopt;
  }
  return Message(m);
}

}  // namespace

void Stamp(Hello& m) { StampAs(m, MessageType::kHello); }
void Stamp(Welcome& m) { StampAs(m, MessageType::kWelcome); }
void Stamp(Attached& m) { StampAs(m, MessageType::kAttached); }
void Stamp(Reject& m) { StampAs(m, MessageType::kReject); }

std::optional<Message> Decode(std::span<const uint8_t> packet, std::string* error) {
  if (packet.size() < sizeof(Header)) {
    *error = "packet of " + std::to_string(packet.size()) + " bytes is shorter than a header";
    return std::nullopt;
  }
  Header h;
  std::memcpy(&h, packet.data(), sizeof h);
  if (h.magic != kMagic) {
    *error = "bad magic (not a TGS message)";
    return std::nullopt;
  }
  if (h.version != kVersion) {
    *error = "protocol version " + std::to_string(h.version) + ", this side speaks " + std::to_string(kVersion);
    return std::nullopt;
  }
  std::optional<Message> m;
  switch (static_cast<MessageType>(h.type)) {
    case MessageType::kHello: m = As<Hello>(packet, "Hello", error); break;
    case MessageType::kWelcome: m = As<Welcome>(packet, "Welcome", error); break;
    case MessageType::kAttached: m = As<Attached>(packet, "Attached", error); break;
    case MessageType::kReject: m = As<Reject>(packet, "Reject", error); break;
    default:
      *error = "unknown message type " + std::to_string(h.type);
      return std::nullopt;
  }
  if (!m) return m;
  // Field checks: strings terminated, counts and enums in range.
  if (auto* hello = std::get_if<Hello>(&*m)) {
    if (hello->gpu_count > static_cast<uint32_t>(kMaxGpus)) {
      *error = "Hello lists " + std::to_string(hello->gpu_count) + " GPUs, at most " + std::to_string(kMaxGpus);
      return std::nullopt;
    }
    if (!Terminated(hello->claimed_container_id) || !Terminated(hello->claimed_class)) {
      *error = "Hello has an unterminated string";
      return std::nullopt;
    }
  } else if (auto* welcome = std::get_if<Welcome>(&*m)) {
    if (welcome->class_kind > static_cast<uint32_t>(ClassKind::kOpportunistic) || welcome->weight == 0) {
      *error = "Welcome has class kind " + std::to_string(welcome->class_kind) + " and weight " +
               std::to_string(welcome->weight);
      return std::nullopt;
    }
    if (!Terminated(welcome->container_key) || !Terminated(welcome->class_name)) {
      *error = "Welcome has an unterminated string";
      return std::nullopt;
    }
    if ((welcome->flags & ~kWelcomeKnownFlags) != 0 ||
        ((welcome->flags & kWelcomeOversubscribe) != 0 &&
         welcome->class_kind == static_cast<uint32_t>(ClassKind::kProduction))) {
      *error = "Welcome has flags " + std::to_string(welcome->flags) + " for class kind " +
               std::to_string(welcome->class_kind);
      return std::nullopt;
    }
  } else if (auto* reject = std::get_if<Reject>(&*m)) {
    if (!Terminated(reject->reason)) {
      *error = "Reject has an unterminated reason";
      return std::nullopt;
    }
  }
  return m;
}

}  // namespace tgs::protocol
