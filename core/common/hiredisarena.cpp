#include "core/common/hiredisarena.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

#include <hiredis/hiredis.h>

namespace l0l3::HiredisArena {

namespace {

// Memory of one reply: a chain of blocks, newest first. The root redisReply
// sits right after the Header in the first block, so release() finds the
// chain from the root pointer alone.
struct Block
{
    Block *next;
    std::size_t size; // bytes after the Block header
    std::size_t used;
};

struct Header
{
    Block *blocks;
};

constexpr std::size_t kAlign = alignof(std::max_align_t);
constexpr std::size_t kMaxBlock = 256 * 1024;

constexpr std::size_t roundUp(std::size_t n)
{
    return (n + kAlign - 1) & ~(kAlign - 1);
}

constexpr std::size_t kBlockHeader = roundUp(sizeof(Block));
constexpr std::size_t kHeader = roundUp(sizeof(Header));
// Most replies (a GET of one entry, an HGETALL, a status) fit one small block:
// those come from per-thread caches of four sizes, so a busy connection does
// not call malloc for them at all (a ~1 KB malloc also makes glibc
// consolidate its fast bins every time).
constexpr std::size_t kClasses = 4;
constexpr std::size_t kClassBytes[kClasses] = {512, 1024, 2048, 4096}; // malloc'd bytes, header included
constexpr std::size_t kCachedPerClass = 128;

struct BlockCache
{
    Block *free[kClasses][kCachedPerClass];
    std::size_t count[kClasses] = {};
    bool gone = false;
    ~BlockCache()
    {
        for (std::size_t c = 0; c < kClasses; ++c)
            while (count[c] > 0)
                std::free(free[c][--count[c]]);
        gone = true; // a release after this (thread exit) frees directly
    }
};
thread_local BlockCache t_cache;

char *dataOf(Block *b)
{
    return reinterpret_cast<char *>(b) + kBlockHeader;
}

// The size class a block of this usable size falls in, or kClasses.
std::size_t classOf(std::size_t size)
{
    std::size_t c = 0;
    while (c < kClasses && kClassBytes[c] - kBlockHeader < size)
        ++c;
    return c;
}

Block *newBlock(std::size_t size, Block *next)
{
    Block *b = nullptr;
    const std::size_t c = classOf(size);
    if (c < kClasses) {
        size = kClassBytes[c] - kBlockHeader;
        if (!t_cache.gone && t_cache.count[c] > 0)
            b = t_cache.free[c][--t_cache.count[c]];
    }
    if (!b)
        b = static_cast<Block *>(std::malloc(kBlockHeader + size));
    if (!b)
        return nullptr;
    b->next = next;
    b->size = size;
    b->used = 0;
    return b;
}

void freeBlock(Block *b)
{
    const std::size_t c = classOf(b->size);
    if (c < kClasses && kClassBytes[c] - kBlockHeader == b->size && !t_cache.gone && t_cache.count[c] < kCachedPerClass)
        t_cache.free[c][t_cache.count[c]++] = b;
    else
        std::free(b);
}

Header *headerOf(void *root)
{
    return reinterpret_cast<Header *>(static_cast<char *>(root) - kHeader);
}

void *allocate(Header *h, std::size_t n)
{
    n = roundUp(n);
    Block *b = h->blocks;
    if (b->size - b->used < n) {
        // Blocks double (a large reply needs few of them), capped, or fit one big string.
        const std::size_t size = std::max(n, std::min(b->size * 2, kMaxBlock));
        b = newBlock(size, h->blocks);
        if (!b)
            return nullptr;
        h->blocks = b;
    }
    void *p = dataOf(b) + b->used;
    b->used += n;
    return p;
}

// A new reply object: the root of a new arena, or a child placed in its root's
// arena and linked into its parent array as hiredis' own functions do.
redisReply *createObject(const redisReadTask *task, int type, std::size_t extra)
{
    redisReply *r = nullptr;
    if (!task->parent) {
        const std::size_t first = kHeader + roundUp(sizeof(redisReply)) + roundUp(extra);
        Block *b = newBlock(first, nullptr);
        if (!b)
            return nullptr;
        auto *h = new (dataOf(b)) Header{b};
        b->used = kHeader;
        r = static_cast<redisReply *>(allocate(h, sizeof(redisReply)));
    } else {
        const redisReadTask *top = task;
        while (top->parent)
            top = top->parent;
        auto *root = static_cast<redisReply *>(top->obj);
        r = static_cast<redisReply *>(allocate(headerOf(root), sizeof(redisReply)));
        if (r) {
            auto *parent = static_cast<redisReply *>(task->parent->obj);
            parent->element[task->idx] = r;
        }
    }
    if (r) {
        std::memset(r, 0, sizeof(redisReply));
        r->type = type;
    }
    return r;
}

// The arena self (just created for task) belongs to.
Header *arenaOf(const redisReadTask *task, redisReply *self)
{
    if (!task->parent)
        return headerOf(self);
    const redisReadTask *top = task->parent;
    while (top->parent)
        top = top->parent;
    return headerOf(top->obj);
}

// A create function failing after createObject: hiredis reports OOM and
// releases the root it knows of, but a root made here is not known yet.
void *fail(const redisReadTask *task, redisReply *r)
{
    if (!task->parent)
        release(r);
    return nullptr;
}

void *createString(const redisReadTask *task, char *str, std::size_t len)
{
    redisReply *r = createObject(task, task->type, len + 1);
    if (!r)
        return nullptr;
    auto *copy = static_cast<char *>(allocate(arenaOf(task, r), len + 1));
    if (!copy)
        return fail(task, r);
    std::memcpy(copy, str, len);
    copy[len] = '\0';
    r->str = copy;
    r->len = len;
    return r;
}

void *createArray(const redisReadTask *task, int elements)
{
    if (elements > kMaxArrayElements)
        return nullptr; // see kMaxArrayElements: hiredis fails the read with "Out of memory"
    const std::size_t bytes = std::size_t(elements > 0 ? elements : 0) * sizeof(redisReply *);
    // A root array's first block also takes room for its elements' objects,
    // within reason: the count is the server's word, and "*88888800" must not
    // reserve gigabytes before a single element arrived.
    redisReply *r = createObject(task, REDIS_REPLY_ARRAY, std::min(bytes * 4, kMaxBlock));
    if (!r)
        return nullptr;
    if (elements > 0) {
        auto *v = static_cast<redisReply **>(allocate(arenaOf(task, r), bytes));
        if (!v)
            return fail(task, r);
        std::memset(v, 0, bytes);
        r->element = v;
    }
    r->elements = std::size_t(elements > 0 ? elements : 0);
    return r;
}

void *createInteger(const redisReadTask *task, long long value)
{
    redisReply *r = createObject(task, REDIS_REPLY_INTEGER, 0);
    if (r)
        r->integer = value;
    return r;
}

void *createNil(const redisReadTask *task)
{
    return createObject(task, REDIS_REPLY_NIL, 0);
}

redisReplyObjectFunctions kFunctions = {createString, createArray, createInteger, createNil, release};

} // namespace

void install(redisReader *reader)
{
    reader->fn = &kFunctions;
}

const redisReplyObjectFunctions &functions()
{
    return kFunctions;
}

void release(void *reply)
{
    if (!reply)
        return;
    Block *b = headerOf(reply)->blocks;
    while (b) {
        Block *next = b->next;
        freeBlock(b);
        b = next;
    }
}

} // namespace l0l3::HiredisArena
