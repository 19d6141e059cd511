// JsonWriter and JsonString (mgmt/json_writer.h): the escaping every --json reply relies on, and
// the commas and nesting, as exact bytes.
#include "controlplane/mgmt/json_writer.h"

#include <gtest/gtest.h>

#include <string>

namespace ipop::cp {
namespace {

TEST(JsonString, QuotesBackslashesAndControlCharactersAreEscaped) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("plain n1.lab"), "\"plain n1.lab\"");
  EXPECT_EQ(JsonString("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(JsonString("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(JsonString("l1\nl2\r\t\b\f"), "\"l1\\nl2\\r\\t\\b\\f\"");
  EXPECT_EQ(JsonString(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonString("/"), "\"/\"");  // allowed unescaped
}

TEST(JsonString, ValidUtf8IsKeptAndEveryInvalidByteReplaced) {
  EXPECT_EQ(JsonString("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonString("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(JsonString("\xc3"), "\"\\ufffd\"");                        // truncated sequence
  EXPECT_EQ(JsonString("\xc0\xaf"), "\"\\ufffd\\ufffd\"");             // overlong '/'
  EXPECT_EQ(JsonString("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\"");  // overlong
  EXPECT_EQ(JsonString("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
  EXPECT_EQ(JsonString("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
  EXPECT_EQ(JsonString("a\x80z"), "\"a\\ufffdz\"");
}

TEST(JsonWriter, CommasAndNesting) {
  JsonWriter w;
  w.BeginObject().Field("a", uint64_t(1)).Key("list").BeginArray();
  w.String("x").Uint(2).Bool(false).Null();
  w.BeginObject().EndObject().BeginArray().EndArray();
  w.EndArray().Field("b", true).Key("o").BeginObject().Field("k", "v").EndObject();
  w.Field("n", int32_t(-3)).Field("d", 1.5, 2).EndObject();
  EXPECT_EQ(w.Finish(),
            "{\"a\":1,\"list\":[\"x\",2,false,null,{},[]],\"b\":true,\"o\":{\"k\":\"v\"},"
            "\"n\":-3,\"d\":1.50}\n");
}

TEST(JsonWriter, KeysAreEscapedAndNonFiniteNumbersAreNull) {
  JsonWriter w;
  w.BeginObject().Field("q\"k", 0.0 / 0.0).Field("inf", 1.0 / 0.0).EndObject();
  EXPECT_EQ(w.Finish(), "{\"q\\\"k\":null,\"inf\":null}\n");
}

TEST(JsonWriter, FinishClosesWhatIsLeftOpen) {
  JsonWriter w;
  w.BeginObject().Key("a").BeginArray().Uint(1);
  EXPECT_EQ(w.Finish(), "{\"a\":[1]}\n");
  JsonWriter v;
  v.BeginObject().Key("dangling");
  EXPECT_EQ(v.Finish(), "{\"dangling\":null}\n");
}

TEST(JsonError, TakesTheMessageOfAnErrorReply) {
  EXPECT_EQ(JsonError("error: unknown command 'x\"y'\n"),
            "{\"error\":\"unknown command 'x\\\"y'\"}\n");
  EXPECT_EQ(JsonError("no prefix"), "{\"error\":\"no prefix\"}\n");
}

}  // namespace
}  // namespace ipop::cp
