#include "core/gateway/redisprobe.h"

#include <memory>
#include <vector>

#include <hiredis/hiredis.h>
#include <sys/time.h>

namespace l0l3 {

namespace {

struct ContextFree
{
    void operator()(redisContext *c) const { redisFree(c); }
};
struct ReplyFree
{
    void operator()(redisReply *r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

Reply run(redisContext *c, std::initializer_list<std::string_view> args)
{
    std::vector<const char *> argv;
    std::vector<std::size_t> lens;
    for (auto a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    return Reply(
        static_cast<redisReply *>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

Context open(const RedisUrl &url, int timeoutMs, std::string *error)
{
    timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
    Context c(redisConnectWithTimeout(url.host.c_str(), url.port, tv));
    if (!c || c->err) {
        if (error)
            *error = std::string("cannot connect to ") + url.redacted() + ": " + (c ? c->errstr : "out of memory");
        return nullptr;
    }
    redisSetTimeout(c.get(), tv);
    auto failed = [&](const Reply &r, std::string_view what) {
        if (r && r->type != REDIS_REPLY_ERROR)
            return false;
        if (error)
            *error = std::string(what) + " failed on " + url.redacted() + ": "
                + (r ? std::string(r->str, r->len) : std::string(c->errstr));
        return true;
    };
    if (!url.password.empty()) {
        Reply r = url.user.empty() ? run(c.get(), {"AUTH", url.password})
                                   : run(c.get(), {"AUTH", url.user, url.password});
        if (failed(r, "AUTH"))
            return nullptr;
    }
    if (url.db != 0) {
        const std::string db = std::to_string(url.db);
        if (failed(run(c.get(), {"SELECT", db}), "SELECT"))
            return nullptr;
    }
    if (failed(run(c.get(), {"PING"}), "PING"))
        return nullptr;
    return c;
}

} // namespace

bool RedisProbe::check(const RedisUrl &url, int timeoutMs, std::string *error)
{
    return open(url, timeoutMs, error) != nullptr;
}

std::optional<std::string> RedisProbe::hget(const RedisUrl &url, int timeoutMs, std::string_view key,
                                            std::string_view field)
{
    Context c = open(url, timeoutMs, nullptr);
    if (!c)
        return std::nullopt;
    Reply r = run(c.get(), {"HGET", key, field});
    if (!r || r->type != REDIS_REPLY_STRING)
        return std::nullopt;
    return std::string(r->str, r->len);
}

} // namespace l0l3
