// Grants (controller/grants/, container/INTERFACES.md): a container's policy
// comes from the socket it connected through — one per class, one per
// Kubernetes allocation — never from what it says. The real controller end
// to end; the request validation and the store: grant_unit_test.cc.
#include <sys/stat.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "controller/grants/grant.h"
#include "shim/util/gpu_uuid.h"
#include "tests/controller/daemon_fixture.h"
#include "tools/tgsctl/admin_client.h"

namespace tgs::controller {
namespace {

using nlohmann::json;

class GrantsTest : public DaemonProcessTest {
 protected:
  void SetUp() override {
    DaemonProcessTest::SetUp();
    admin_ = dir_ + "/run/admin.sock";
    grant_dir_ = dir_ + "/grants";
    WriteFile(config_, Policy("1GiB",
                              "classes:\n  production: { memory_limit: 2GiB }\n"
                              "  batch: { kind: opportunistic, weight: 3, memory_limit: 6GiB }\n"));
  }
  void StartWithGrants() { Start({"--admin-socket", admin_, "--grant-dir", grant_dir_}); }
  json Admin(const json& request) {
    tgsctl::Reply r = tgsctl::Request(admin_, request, 3000);
    EXPECT_EQ(r.failure, tgsctl::Failure::kNone) << r.error;
    return r.body;
  }
  std::string ClassSocket(const std::string& cls) { return grant_dir_ + "/class/" + cls + "/tgs.sock"; }
  json Grant(const json& extra = json::object()) {
    json request = {{"command", "grant"},
                    {"class", "batch"},
                    {"memory_limit_bytes", 3ull << 30},
                    {"gpus", {FormatGpuUuid(uuid_)}},
                    {"devices", {"d::0", "d::1", "d::2"}},
                    {"resource", "tgs.io/batch-gib"},
                    {"owner", "test"}};
    request.update(extra);
    json reply = Admin(request);
    EXPECT_TRUE(reply.value("ok", false)) << reply.dump();
    return reply.value("grant", json::object());
  }
  // The status document's entry for `key` (after a control interval).
  json StatusOf(const std::string& key) {
    json found;
    WaitFor(
        [&] {
          json status = Admin({{"command", "status"}});
          for (const json& c : status["status"]["containers"]) {
            if (c.value("container", "") == key) found = c;
          }
          return !found.is_null();
        },
        3s);
    return found;
  }
  std::string admin_, grant_dir_;
};

TEST_F(GrantsTest, EachClassHasASocketThatGivesItsClass) {
  StartWithGrants();
  struct stat st;
  ASSERT_EQ(stat(grant_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "other users must not reach the class sockets";
  for (const char* cls : {"production", "opportunistic", "batch"}) {
    ASSERT_EQ(stat(ClassSocket(cls).c_str(), &st), 0) << cls;
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0666u);
  }
  Client prod;
  ASSERT_TRUE(prod.Register(ClassSocket("production"), uuid_, "", "opportunistic")) << prod.error;
  EXPECT_STREQ(prod.welcome->class_name, "production");  // the socket's, not the claim's
  EXPECT_EQ(prod.welcome->class_kind, static_cast<uint32_t>(proto::ClassKind::kProduction));
  EXPECT_EQ(prod.welcome->memory_limit_bytes, 2ull << 30);
  EXPECT_EQ(std::string(prod.welcome->container_key), own_key_);  // still the cgroup's container
  ASSERT_TRUE(prod.Attach()) << prod.error;

  // The same container through another class's socket, while in use: refused.
  Client other;
  EXPECT_FALSE(other.Register(ClassSocket("batch"), uuid_));
  ASSERT_TRUE(other.reject.has_value()) << other.error;
  EXPECT_NE(std::string(other.reject->reason).find("registered through grant class:production"), std::string::npos)
      << other.reject->reason;
  Client plain;
  EXPECT_FALSE(plain.Register(socket_, uuid_));
  ASSERT_TRUE(plain.reject.has_value());

  // Once its processes are gone, the container may come back through another.
  prod.Close();
  ASSERT_TRUE(WaitFor(
      [&] {
        json status = Admin({{"command", "status"}});
        for (const json& c : status["status"]["containers"]) {
          if (c.value("container", "") == own_key_ && c.value("processes", 0) > 0) return false;
        }
        return true;
      },
      3s));
  Client batch;
  ASSERT_TRUE(batch.Register(ClassSocket("batch"), uuid_)) << batch.error;
  EXPECT_STREQ(batch.welcome->class_name, "batch");
  EXPECT_EQ(batch.welcome->weight, 3u);
  EXPECT_EQ(batch.welcome->memory_limit_bytes, 6ull << 30);
}

TEST_F(GrantsTest, AnAllocationNamesItsContainerAndKeepsItToItsGpus) {
  StartWithGrants();
  json g = Grant();
  std::string id = g.value("id", "");
  ASSERT_TRUE(IsAllocationId(id)) << g.dump();
  EXPECT_EQ(g.value("socket_dir", ""), grant_dir_ + "/alloc/" + id);
  EXPECT_EQ(g.value("socket", ""), grant_dir_ + "/alloc/" + id + "/tgs.sock");
  EXPECT_EQ(g.value("class", ""), "batch");
  EXPECT_EQ(g["devices"].size(), 3u);

  Client c;
  ASSERT_TRUE(c.Register(g.value("socket", ""), uuid_, "someone-else", "production")) << c.error;
  EXPECT_EQ(std::string(c.welcome->container_key), "alloc:" + id);
  EXPECT_STREQ(c.welcome->class_name, "batch");
  EXPECT_EQ(c.welcome->memory_limit_bytes, 3ull << 30);  // the allocation's, not the class's 6GiB
  ASSERT_TRUE(c.Attach());

  uint8_t other_gpu[16];
  for (int i = 0; i < 16; ++i) other_gpu[i] = static_cast<uint8_t>(0x10 + i);
  Client stray;
  EXPECT_FALSE(stray.Register(g.value("socket", ""), other_gpu));
  ASSERT_TRUE(stray.reject.has_value()) << stray.error;
  EXPECT_NE(std::string(stray.reject->reason).find("which its allocation does not include"), std::string::npos)
      << stray.reject->reason;

  json labelled = Admin({{"command", "label"},
                         {"id", id},
                         {"labels", {{"namespace", "ml"}, {"pod", "trainer-0"}, {"container", "main"}}}});
  ASSERT_TRUE(labelled.value("ok", false)) << labelled.dump();
  EXPECT_EQ(labelled["grant"].value("processes", 0), 1);
  json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = StatusOf("alloc:" + id);
        return status.value("pod", "") == "trainer-0";
      },
      3s))
      << status.dump();
  EXPECT_EQ(status.value("namespace", ""), "ml");
  EXPECT_EQ(status.value("container_name", ""), "main");
  EXPECT_EQ(status.value("class", ""), "batch");
  EXPECT_NE(status.value("matched_by", "").find("grant alloc:" + id), std::string::npos) << status.dump();

  // tgsctl shows and takes Kubernetes containers by their pod's names.
  json set = Admin({{"command", "set"}, {"container", "ml/trainer-0/main"}, {"weight", 5}});
  ASSERT_TRUE(set.value("ok", false)) << set.dump();
  EXPECT_NE(set.value("message", "").find("alloc:" + id), std::string::npos) << set.dump();
  ASSERT_TRUE(WaitFor([&] { return StatusOf("alloc:" + id).value("weight", 0) == 5; }, 3s));

  json list = Admin({{"command", "grants"}});
  ASSERT_EQ(list["grants"].size(), 1u) << list.dump();
  EXPECT_EQ(list["grants"][0]["labels"].value("pod", ""), "trainer-0");
  EXPECT_EQ(list.value("grant_dir", ""), grant_dir_);

  ASSERT_TRUE(Admin({{"command", "revoke"}, {"id", id}}).value("ok", false));
  EXPECT_FALSE(std::filesystem::exists(g.value("socket_dir", "")));
  EXPECT_LT(Connect(g.value("socket", "")), 0);
  EXPECT_TRUE(Admin({{"command", "grants"}})["grants"].empty());
}

TEST_F(GrantsTest, BadRequestsSayWhatIsWrong) {
  StartWithGrants();
  auto error_of = [&](const json& request) { return Admin(request).value("error", std::string("(none)")); };
  EXPECT_NE(error_of({{"command", "grant"}, {"class", "gold"}}).find("class 'gold' is not defined"),
            std::string::npos);
  EXPECT_NE(error_of({{"command", "grant"}, {"class", "batch"}, {"gpus", {"nope"}}}).find("'nope' is not a GPU UUID"),
            std::string::npos);
  EXPECT_NE(error_of({{"command", "label"}, {"id", "xyz"}, {"labels", json::object()}}).find("id must be an allocation"),
            std::string::npos);
  EXPECT_NE(error_of({{"command", "revoke"}, {"id", std::string(32, 'a')}}).find("no allocation"), std::string::npos);
  EXPECT_NE(error_of({{"command", "grantt"}}).find("unknown command 'grantt'"), std::string::npos);
  EXPECT_TRUE(Admin({{"command", "grants"}})["grants"].empty()) << "nothing half-made";
  EXPECT_TRUE(Alive());
}

TEST_F(GrantsTest, GrantsAndClassBindingsSurviveARestart) {
  StartWithGrants();
  json g = Grant({{"class", "production"}, {"memory_limit_bytes", 0}});
  std::string socket = g.value("socket", "");
  struct stat before;
  ASSERT_EQ(stat(g.value("socket_dir", "").c_str(), &before), 0);
  {
    Client c;
    ASSERT_TRUE(c.Register(socket, uuid_)) << c.error;
    EXPECT_EQ(c.welcome->memory_limit_bytes, 2ull << 30);  // limit 0: the class's
    Client b;
    ASSERT_TRUE(b.Register(ClassSocket("batch"), uuid_)) << b.error;
    ASSERT_TRUE(b.Attach());

    kill(pid_, SIGTERM);
    ASSERT_EQ(Exit(pid_), 0);
    StartWithGrants();
    // The directory the containers have mounted is the same one, with a new socket in it.
    struct stat after;
    ASSERT_EQ(stat(g.value("socket_dir", "").c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    // Before any process is back, the restored container has its class again.
    json restored = StatusOf(own_key_);
    EXPECT_EQ(restored.value("class", ""), "batch") << restored.dump();
  }
  Client again;
  ASSERT_TRUE(again.Register(socket, uuid_)) << again.error;
  EXPECT_STREQ(again.welcome->class_name, "production");
  EXPECT_EQ(std::string(again.welcome->container_key), "alloc:" + g.value("id", ""));
}

}  // namespace
}  // namespace tgs::controller
