// HiredisArena on arbitrary bytes fed to a hiredis reader. The first byte
// picks the chunk size the rest is fed in. Properties: the arena reader
// returns exactly the replies hiredis' own reader returns (same trees, same
// error at the same point), and neither leaks (LeakSanitizer) nor touches
// memory it does not own (ASan) — also when the input ends mid-reply and the
// reader is freed with a half-built reply. Inputs with an array header beyond
// HiredisArena::kMaxArrayElements are read by the arena alone: it refuses
// them by design, where hiredis' own reader would calloc gigabytes.
#include <hiredis/hiredis.h>

#include "core/common/hiredisarena.h"
#include "tests/fuzz/fuzzcheck.h"

namespace {

void dump(const redisReply *r, std::string &out, int depth)
{
    FUZZ_CHECK(depth < 16);
    out += char('0' + r->type);
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        FUZZ_CHECK(r->str[r->len] == '\0');
        out += std::to_string(r->len) + ':';
        out.append(r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER: out += std::to_string(r->integer); break;
    case REDIS_REPLY_ARRAY:
        out += '[' + std::to_string(r->elements) + ']';
        for (size_t i = 0; i < r->elements; ++i)
            dump(r->element[i], out, depth + 1);
        break;
    default: break;
    }
    out += ';';
}

std::string readAll(bool arena, const char *data, size_t size, size_t chunk)
{
    redisReader *reader = redisReaderCreate();
    if (arena)
        l0l3::HiredisArena::install(reader);
    std::string out;
    for (size_t pos = 0; pos < size; pos += chunk) {
        if (redisReaderFeed(reader, data + pos, std::min(chunk, size - pos)) != REDIS_OK) {
            out += "feed error";
            break;
        }
        void *reply = nullptr;
        int rc = REDIS_OK;
        while ((rc = redisReaderGetReply(reader, &reply)) == REDIS_OK && reply) {
            dump(static_cast<redisReply *>(reply), out, 0);
            if (arena)
                l0l3::HiredisArena::release(reply);
            else
                freeReplyObject(reply);
            out += '\n';
        }
        if (rc != REDIS_OK) {
            out += "error: ";
            out += reader->errstr;
            break;
        }
    }
    redisReaderFree(reader); // a half-built reply is released through the reader's functions
    return out;
}

// Whether "*N" with N beyond the arena's limit appears anywhere in the input
// (anywhere: hiredis 0.14 skips the two bytes after a bulk string unread, so a
// header need not follow a newline; inside a bulk string both readers would
// agree, but the comparison is skipped all the same).
bool declaresHugeArray(const char *data, size_t size)
{
    for (size_t i = 0; i < size; ++i) {
        if (data[i] != '*')
            continue;
        long long n = 0;
        size_t j = i + 1;
        for (; j < size && data[j] >= '0' && data[j] <= '9' && n <= l0l3::HiredisArena::kMaxArrayElements; ++j)
            n = n * 10 + (data[j] - '0');
        if (n > l0l3::HiredisArena::kMaxArrayElements)
            return true;
    }
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    if (size < 1)
        return 0;
    const size_t chunk = 1 + data[0] % 64 * (data[0] >= 128 ? 64 : 1);
    const char *text = reinterpret_cast<const char *>(data + 1);
    const std::string arena = readAll(true, text, size - 1, chunk);
    if (!declaresHugeArray(text, size - 1))
        FUZZ_CHECK(arena == readAll(false, text, size - 1, chunk));
    return 0;
}
