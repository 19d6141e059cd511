// A small JSON text builder for the `--json` management replies (mgmt/render_*.cc): objects,
// arrays, strings, numbers, booleans and null, with commas and string escaping done here so no
// renderer writes JSON syntax by hand. The output is one value on one line, then a newline.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ipop::cp {

// `s` as a JSON string, quotes included: '"' and '\' escaped, control characters and DEL as
// \n, \t, ... or \u00XX, valid UTF-8 kept as it is, and each byte that is not part of valid
// UTF-8 replaced by \ufffd, so any bytes (a DHT value, a node name) give valid JSON.
std::string JsonString(std::string_view s);

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // The next value is the member `key` of the enclosing object.
  JsonWriter& Key(std::string_view key);

  JsonWriter& String(std::string_view s);
  JsonWriter& Uint(uint64_t v);
  JsonWriter& Int(int64_t v);
  // `decimals` digits after the point; a NaN or infinity is written as null.
  JsonWriter& Double(double v, int decimals = 3);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();

  // Key + value in one call.
  JsonWriter& Field(std::string_view key, std::string_view v) { return Key(key).String(v); }
  JsonWriter& Field(std::string_view key, const char* v) { return Key(key).String(v); }
  JsonWriter& Field(std::string_view key, bool v) { return Key(key).Bool(v); }
  JsonWriter& Field(std::string_view key, uint64_t v) { return Key(key).Uint(v); }
  JsonWriter& Field(std::string_view key, uint32_t v) { return Key(key).Uint(v); }
  JsonWriter& Field(std::string_view key, int32_t v) { return Key(key).Int(v); }
  JsonWriter& Field(std::string_view key, double v, int decimals = 3) {
    return Key(key).Double(v, decimals);
  }

  // The text with a final newline. Open objects and arrays are a caller's bug: they are closed
  // here so the reply still parses.
  std::string Finish();

 private:
  void BeforeValue();

  std::string out_;
  std::vector<char> open_;  // '{' or '[' per open container
  bool first_ = true;       // no member or element yet in the innermost container
  bool after_key_ = false;
};

// {"error":"<message>"} for an "error: <message>\n" reply (the prefix and newline dropped).
std::string JsonError(std::string_view error_reply);

}  // namespace ipop::cp
