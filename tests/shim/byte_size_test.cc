#include "shim/util/byte_size.h"

#include <gtest/gtest.h>

namespace tgs {
namespace {

TEST(ByteSize, ParsesUnitsAsOperatorsWriteThem) {
  EXPECT_EQ(ParseByteSize("4096"), 4096u);
  EXPECT_EQ(ParseByteSize("512MiB"), 512ull << 20);
  EXPECT_EQ(ParseByteSize("2GiB"), 2ull << 30);
  EXPECT_EQ(ParseByteSize("2gib"), 2ull << 30);
  EXPECT_EQ(ParseByteSize("1.5GB"), 1500000000u);
  EXPECT_EQ(ParseByteSize("1.5GiB"), 3ull << 29);
  EXPECT_EQ(ParseByteSize(" 16 G "), 16ull << 30);
  EXPECT_EQ(ParseByteSize("10KB"), 10000u);
  EXPECT_EQ(ParseByteSize("1TiB"), 1ull << 40);
}

TEST(ByteSize, RejectsWhatIsNotASize) {
  std::string why;
  EXPECT_FALSE(ParseByteSize("12XB", &why));
  EXPECT_NE(why.find("unknown unit 'XB'"), std::string::npos) << why;
  EXPECT_FALSE(ParseByteSize("-5", &why));
  EXPECT_NE(why.find("does not start with a number"), std::string::npos) << why;
  EXPECT_FALSE(ParseByteSize("", &why));
  EXPECT_FALSE(ParseByteSize("GiB", &why));
  EXPECT_FALSE(ParseByteSize("0.5", &why));
  EXPECT_NE(why.find("fractional"), std::string::npos) << why;
  EXPECT_FALSE(ParseByteSize("99999999999TiB", &why));
  EXPECT_NE(why.find("too large"), std::string::npos) << why;
}

TEST(ByteSize, FormatsForHumans) {
  EXPECT_EQ(FormatByteSize(17), "17 B");
  EXPECT_EQ(FormatByteSize(512ull << 20), "512.00 MiB");
  EXPECT_EQ(FormatByteSize(3ull << 29), "1.50 GiB");
}

}  // namespace
}  // namespace tgs
