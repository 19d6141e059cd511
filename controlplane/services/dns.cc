#include "controlplane/services/dns.h"

#include <algorithm>
#include <cstring>

#include "shared/byte_order.h"

namespace ipop::dns {
namespace {

constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagAa = 0x0400;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagRa = 0x0080;
constexpr size_t kRecordFixedSize = 10;  // type, class, ttl, rdlength

char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

// Reads one resource record at *pos (owner, fixed part, rdata) and advances *pos past it.
ParseError ReadRecord(std::span<const uint8_t> msg, size_t* pos, ParsedRecord* r) {
  size_t p = 0;
  if (ParseError e = ReadName(msg, *pos, &r->owner, &p); e != ParseError::kNone) return e;
  if (msg.size() - p < kRecordFixedSize) return ParseError::kRecordTruncated;
  r->type = LoadBe16(&msg[p]);
  r->klass = LoadBe16(&msg[p + 2]);
  r->ttl = LoadBe32(&msg[p + 4]);
  r->rdlength = LoadBe16(&msg[p + 8]);
  p += kRecordFixedSize;
  if (msg.size() - p < r->rdlength) return ParseError::kRecordTruncated;
  r->ipv4 = 0;
  r->ptr.size = r->ptr.labels = 0;
  r->soa_rname.size = r->soa_rname.labels = 0;
  r->soa_serial = r->soa_minimum = 0;
  if (r->type == kTypeA && r->rdlength == 4) r->ipv4 = LoadBe32(&msg[p]);
  // Names in rdata may point back into the message but must not run past their own rdata.
  const std::span<const uint8_t> upto_rdata_end = msg.first(p + r->rdlength);
  if (r->type == kTypePtr || r->type == kTypeNs) {
    size_t name_end = 0;
    if (ParseError e = ReadName(upto_rdata_end, p, &r->ptr, &name_end); e != ParseError::kNone)
      return e;
  }
  if (r->type == kTypeSoa) {
    size_t at = 0;
    if (ParseError e = ReadName(upto_rdata_end, p, &r->ptr, &at); e != ParseError::kNone) return e;
    if (ParseError e = ReadName(upto_rdata_end, at, &r->soa_rname, &at); e != ParseError::kNone)
      return e;
    if (upto_rdata_end.size() - at < 20) return ParseError::kRecordTruncated;
    r->soa_serial = LoadBe32(&msg[at]);
    r->soa_minimum = LoadBe32(&msg[at + 16]);
  }
  *pos = p + r->rdlength;
  return ParseError::kNone;
}

// Skips `count` records and records whether an OPT was among them.
ParseError ReadSection(std::span<const uint8_t> msg, size_t* pos, uint32_t count, bool additional,
                       bool* has_opt, uint16_t* opt_class, uint32_t* opt_ttl) {
  ParsedRecord r;
  for (uint32_t i = 0; i < count; ++i) {
    if (ParseError e = ReadRecord(msg, pos, &r); e != ParseError::kNone) return e;
    if (!additional || r.type != kTypeOpt) continue;
    if (*has_opt) return ParseError::kDuplicateOpt;
    if (r.owner.labels != 0) return ParseError::kBadOpt;
    *has_opt = true;
    *opt_class = r.klass;
    *opt_ttl = r.ttl;
  }
  return ParseError::kNone;
}

// Where a record's owner can be pointed at: the question's name or one of its suffixes (0: it
// has to be written out).
size_t OwnerPointer(const Record& r, const Question* q) {
  if (q == nullptr) return 0;
  if (r.owner == nullptr) return kHeaderSize;
  const Name& n = q->name;
  for (size_t pos = 0; pos < n.size; pos += 1 + size_t(n.wire[pos])) {
    const size_t left = n.size - pos;
    if (left == r.owner->size && LabelEquals({reinterpret_cast<const char*>(&n.wire[pos]), left},
                                             {reinterpret_cast<const char*>(r.owner->wire), left}))
      return kHeaderSize + pos;
    if (n.wire[pos] == 0) break;
  }
  return 0;
}

// Bytes the record takes in the message, or 0 if it is invalid.
size_t RecordSize(const Record& r, const Question* q) {
  size_t owner = 2;
  if (OwnerPointer(r, q) == 0) {
    if (r.owner == nullptr || r.owner->size == 0) return 0;
    owner = r.owner->size;
  }
  size_t rdata = 0;
  if (r.type == kTypeA)
    rdata = 4;
  else if ((r.type == kTypePtr || r.type == kTypeNs) && r.ptr != nullptr && r.ptr->size != 0)
    rdata = r.ptr->size;
  else if (r.type == kTypeSoa && r.soa != nullptr && r.soa->mname.size != 0 &&
           r.soa->rname.size != 0)
    rdata = size_t(r.soa->mname.size) + r.soa->rname.size + 20;
  else
    return 0;
  return owner + kRecordFixedSize + rdata;
}

uint8_t* WriteRecord(uint8_t* p, const Record& r, const Question* q) {
  if (const size_t ptr = OwnerPointer(r, q); ptr != 0) {
    StoreBe16(p, uint16_t(0xc000 | ptr));
    p += 2;
  } else {
    std::memcpy(p, r.owner->wire, r.owner->size);
    p += r.owner->size;
  }
  StoreBe16(p, r.type);
  StoreBe16(p + 2, kClassIn);
  StoreBe32(p + 4, r.ttl);
  p += 8;
  uint8_t* rdlength = p;
  p += 2;
  if (r.type == kTypeA) {
    StoreBe32(p, r.ipv4);
    p += 4;
  } else if (r.type == kTypeSoa) {
    std::memcpy(p, r.soa->mname.wire, r.soa->mname.size);
    p += r.soa->mname.size;
    std::memcpy(p, r.soa->rname.wire, r.soa->rname.size);
    p += r.soa->rname.size;
    StoreBe32(p, r.soa->serial);
    StoreBe32(p + 4, r.soa->refresh);
    StoreBe32(p + 8, r.soa->retry);
    StoreBe32(p + 12, r.soa->expire);
    StoreBe32(p + 16, r.soa->minimum);
    p += 20;
  } else {
    std::memcpy(p, r.ptr->wire, r.ptr->size);
    p += r.ptr->size;
  }
  StoreBe16(rdlength, uint16_t(p - rdlength - 2));
  return p;
}

}  // namespace

const char* RcodeName(Rcode r) {
  switch (r) {
    case Rcode::kNoError:
      return "NOERROR";
    case Rcode::kFormErr:
      return "FORMERR";
    case Rcode::kServFail:
      return "SERVFAIL";
    case Rcode::kNxDomain:
      return "NXDOMAIN";
    case Rcode::kNotImp:
      return "NOTIMP";
    case Rcode::kRefused:
      return "REFUSED";
  }
  return "?";
}

const char* ParseErrorName(ParseError e) {
  switch (e) {
    case ParseError::kNone:
      return "none";
    case ParseError::kTooShort:
      return "too_short";
    case ParseError::kNotQuery:
      return "not_query";
    case ParseError::kNotResponse:
      return "not_response";
    case ParseError::kBadOpcode:
      return "bad_opcode";
    case ParseError::kQuestionCount:
      return "question_count";
    case ParseError::kNameTruncated:
      return "name_truncated";
    case ParseError::kLabelTooLong:
      return "label_too_long";
    case ParseError::kNameTooLong:
      return "name_too_long";
    case ParseError::kBadPointer:
      return "bad_pointer";
    case ParseError::kTooManyPointers:
      return "too_many_pointers";
    case ParseError::kQuestionTruncated:
      return "question_truncated";
    case ParseError::kRecordTruncated:
      return "record_truncated";
    case ParseError::kDuplicateOpt:
      return "duplicate_opt";
    case ParseError::kBadOpt:
      return "bad_opt";
    case ParseError::kCount:
      break;
  }
  return "?";
}

ParseError ReadName(std::span<const uint8_t> msg, size_t offset, Name* out, size_t* end) {
  out->size = 0;
  out->labels = 0;
  size_t pos = offset;
  // Every pointer must land strictly before the start of the segment that holds it, so the
  // walk moves to ever lower offsets and cannot loop; kMaxPointers bounds it further.
  size_t segment_start = offset;
  size_t hops = 0;
  bool jumped = false;
  size_t used = 0;
  for (;;) {
    if (pos >= msg.size()) return ParseError::kNameTruncated;
    const uint8_t len = msg[pos];
    if ((len & 0xc0) == 0xc0) {
      if (pos + 1 >= msg.size()) return ParseError::kNameTruncated;
      const size_t target = size_t(len & 0x3f) << 8 | msg[pos + 1];
      if (!jumped) *end = pos + 2;
      jumped = true;
      if (++hops > kMaxPointers) return ParseError::kTooManyPointers;
      if (target < kHeaderSize || target >= segment_start) return ParseError::kBadPointer;
      segment_start = pos = target;
      continue;
    }
    if (len & 0xc0) return ParseError::kLabelTooLong;
    if (len == 0) {
      out->wire[used++] = 0;  // used <= 254 here: every label append keeps room for the root
      out->size = uint8_t(used);
      if (!jumped) *end = pos + 1;
      return ParseError::kNone;
    }
    if (msg.size() - pos - 1 < len) return ParseError::kNameTruncated;
    if (used + 1 + len + 1 > kMaxNameSize) return ParseError::kNameTooLong;
    std::memcpy(&out->wire[used], &msg[pos], 1 + size_t(len));
    used += 1 + size_t(len);
    ++out->labels;
    pos += 1 + size_t(len);
  }
}

bool NameFromText(std::string_view text, Name* out) {
  out->size = out->labels = 0;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  size_t used = 0;
  while (!text.empty()) {
    const size_t dot = text.find('.');
    const std::string_view label = text.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabelSize) return false;
    if (used + 1 + label.size() + 1 > kMaxNameSize) return false;
    out->wire[used] = uint8_t(label.size());
    std::memcpy(&out->wire[used + 1], label.data(), label.size());
    used += 1 + label.size();
    ++out->labels;
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
    if (text.empty()) return false;  // "a..": an empty last label
  }
  out->wire[used++] = 0;
  out->size = uint8_t(used);
  return true;
}

std::string_view Label(const Name& name, size_t index) {
  size_t pos = 0;
  for (size_t i = 0; i < index && pos < name.size && name.wire[pos] != 0; ++i)
    pos += 1 + name.wire[pos];
  if (pos >= name.size) return {};
  return {reinterpret_cast<const char*>(&name.wire[pos + 1]), name.wire[pos]};
}

std::string NameToText(const Name& name) {
  std::string text;
  for (size_t i = 0; i < name.labels; ++i) {
    if (i) text.push_back('.');
    text.append(Label(name, i));
  }
  return text;
}

bool LabelEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

bool NameEquals(const Name& a, const Name& b) {
  // Length bytes are below 64 and so never change under Lower(); comparing the whole wire form
  // case-insensitively compares label by label.
  if (a.size != b.size) return false;
  return LabelEquals({reinterpret_cast<const char*>(a.wire), a.size},
                     {reinterpret_cast<const char*>(b.wire), b.size});
}

ParseError ParseQuery(std::span<const uint8_t> msg, Query* out) {
  if (msg.size() < kHeaderSize) return ParseError::kTooShort;
  const uint16_t flags = LoadBe16(&msg[2]);
  out->id = LoadBe16(&msg[0]);
  out->opcode = uint8_t((flags >> 11) & 0x0f);
  out->recursion_desired = (flags & kFlagRd) != 0;
  out->has_edns = false;
  out->edns_udp_size = 0;
  out->edns_version = 0;
  if (flags & kFlagQr) return ParseError::kNotQuery;
  if (out->opcode != kOpcodeQuery) return ParseError::kBadOpcode;
  if (LoadBe16(&msg[4]) != 1) return ParseError::kQuestionCount;
  size_t pos = 0;
  if (ParseError e = ReadName(msg, kHeaderSize, &out->question.name, &pos); e != ParseError::kNone)
    return e;
  if (msg.size() - pos < 4) return ParseError::kQuestionTruncated;
  out->question.type = LoadBe16(&msg[pos]);
  out->question.klass = LoadBe16(&msg[pos + 2]);
  pos += 4;
  // Answer and authority sections are unusual in a query; they are walked only to reach the
  // additional section, where an EDNS0 OPT may sit (e.g. with a cookie, which is ignored).
  const uint32_t others = uint32_t(LoadBe16(&msg[6])) + LoadBe16(&msg[8]);
  bool has_opt = false;
  uint16_t opt_class = 0;
  uint32_t opt_ttl = 0;
  if (ParseError e = ReadSection(msg, &pos, others, false, &has_opt, &opt_class, &opt_ttl);
      e != ParseError::kNone)
    return e;
  if (ParseError e =
          ReadSection(msg, &pos, LoadBe16(&msg[10]), true, &has_opt, &opt_class, &opt_ttl);
      e != ParseError::kNone)
    return e;
  out->has_edns = has_opt;
  out->edns_udp_size = opt_class;
  out->edns_version = uint8_t(opt_ttl >> 16);
  return ParseError::kNone;
}

size_t BuildResponse(const ResponseSpec& spec, std::span<uint8_t> out) {
  if (!spec.answers.empty() && spec.question == nullptr) return 0;
  if (spec.question != nullptr && spec.question->name.size == 0) return 0;
  if (spec.answers.size() > 0xffff || spec.authority.size() > 0xffff) return 0;
  size_t need = kHeaderSize;
  if (spec.question) need += spec.question->name.size + 4;
  for (std::span<const Record> section : {spec.answers, spec.authority}) {
    for (const Record& r : section) {
      const size_t size = RecordSize(r, spec.question);
      if (size == 0) return 0;
      need += size;
    }
  }
  if (spec.edns) need += 1 + kRecordFixedSize;
  if (out.size() < need) return 0;

  uint8_t* p = out.data();
  uint16_t flags = kFlagQr | uint16_t((spec.opcode & 0x0f) << 11) | (uint16_t(spec.rcode) & 0x0f);
  if (spec.authoritative) flags |= kFlagAa;
  if (spec.recursion_desired) flags |= kFlagRd;
  StoreBe16(p, spec.id);
  StoreBe16(p + 2, flags);
  StoreBe16(p + 4, spec.question ? 1 : 0);
  StoreBe16(p + 6, uint16_t(spec.answers.size()));
  StoreBe16(p + 8, uint16_t(spec.authority.size()));
  StoreBe16(p + 10, spec.edns ? 1 : 0);
  p += kHeaderSize;
  if (spec.question) {
    std::memcpy(p, spec.question->name.wire, spec.question->name.size);
    p += spec.question->name.size;
    StoreBe16(p, spec.question->type);
    StoreBe16(p + 2, spec.question->klass);
    p += 4;
  }
  for (const Record& r : spec.answers) p = WriteRecord(p, r, spec.question);
  for (const Record& r : spec.authority) p = WriteRecord(p, r, spec.question);
  if (spec.edns) {
    p[0] = 0;  // root owner
    StoreBe16(p + 1, kTypeOpt);
    StoreBe16(p + 3, kEdnsUdpSize);
    StoreBe32(p + 5, 0);  // extended rcode 0, version 0, no DO bit
    StoreBe16(p + 9, 0);
    p += 1 + kRecordFixedSize;
  }
  return size_t(p - out.data());
}

size_t UdpReplyLimit(const Query& query, size_t cap) {
  const size_t wanted =
      query.has_edns ? std::max<size_t>(query.edns_udp_size, kMaxUdpPayload) : kMaxUdpPayload;
  return std::min(wanted, cap);
}

size_t TruncateResponse(std::span<const uint8_t> response, bool edns, std::span<uint8_t> out) {
  if (response.size() < kHeaderSize) return 0;
  // The question is never compressed (a pointer could only point into the header), so a name
  // that reads is the bytes up to its end.
  size_t question_end = kHeaderSize;
  Name name;
  size_t end = 0;
  if (LoadBe16(&response[4]) == 1 &&
      ReadName(response, kHeaderSize, &name, &end) == ParseError::kNone &&
      response.size() - end >= 4)
    question_end = end + 4;
  const size_t size = question_end + (edns ? 1 + kRecordFixedSize : 0);
  if (out.size() < size) return 0;
  std::memcpy(out.data(), response.data(), question_end);
  uint8_t* p = out.data();
  StoreBe16(p + 2, uint16_t(LoadBe16(p + 2) | kFlagTc));
  StoreBe16(p + 4, question_end > kHeaderSize ? 1 : 0);
  StoreBe16(p + 6, 0);
  StoreBe16(p + 8, 0);
  StoreBe16(p + 10, edns ? 1 : 0);
  if (edns) {
    p += question_end;
    p[0] = 0;  // root owner
    StoreBe16(p + 1, kTypeOpt);
    StoreBe16(p + 3, kEdnsUdpSize);
    StoreBe32(p + 5, 0);
    StoreBe16(p + 9, 0);
  }
  return size;
}

ParseError ParseResponse(std::span<const uint8_t> msg, Response* out) {
  if (msg.size() < kHeaderSize) return ParseError::kTooShort;
  const uint16_t flags = LoadBe16(&msg[2]);
  out->id = LoadBe16(&msg[0]);
  if (!(flags & kFlagQr)) return ParseError::kNotResponse;
  out->opcode = uint8_t((flags >> 11) & 0x0f);
  out->authoritative = (flags & kFlagAa) != 0;
  out->truncated = (flags & kFlagTc) != 0;
  out->recursion_desired = (flags & kFlagRd) != 0;
  out->recursion_available = (flags & kFlagRa) != 0;
  out->rcode_raw = uint8_t(flags & 0x0f);
  out->rcode = Rcode(out->rcode_raw);
  out->question_count = LoadBe16(&msg[4]);
  out->answer_count = LoadBe16(&msg[6]);
  out->authority_count = LoadBe16(&msg[8]);
  out->has_edns = false;
  if (out->question_count > 1) return ParseError::kQuestionCount;
  size_t pos = kHeaderSize;
  if (out->question_count == 1) {
    if (ParseError e = ReadName(msg, pos, &out->question.name, &pos); e != ParseError::kNone)
      return e;
    if (msg.size() - pos < 4) return ParseError::kQuestionTruncated;
    out->question.type = LoadBe16(&msg[pos]);
    out->question.klass = LoadBe16(&msg[pos + 2]);
    pos += 4;
  }
  ParsedRecord scratch;
  for (uint32_t i = 0; i < out->answer_count; ++i) {
    ParsedRecord* r = i < Response::kMaxAnswers ? &out->answers[i] : &scratch;
    if (ParseError e = ReadRecord(msg, &pos, r); e != ParseError::kNone) return e;
  }
  for (uint32_t i = 0; i < out->authority_count; ++i) {
    ParsedRecord* r = i < Response::kMaxAuthority ? &out->authority[i] : &scratch;
    if (ParseError e = ReadRecord(msg, &pos, r); e != ParseError::kNone) return e;
  }
  bool has_opt = false;
  uint16_t opt_class = 0;
  uint32_t opt_ttl = 0;
  if (ParseError e =
          ReadSection(msg, &pos, LoadBe16(&msg[10]), true, &has_opt, &opt_class, &opt_ttl);
      e != ParseError::kNone)
    return e;
  out->has_edns = has_opt;
  return ParseError::kNone;
}

}  // namespace ipop::dns
