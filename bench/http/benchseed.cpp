// l0l3_bench_seed: turns the benchmark's request bodies into approved cache
// entries. It derives each key with the gateway's own ChatRequestParser and
// CacheKey, so the seeded entries are exactly what the gateway looks up, and
// writes Redis protocol for `redis-cli --pipe` on stdout.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "core/common/redisschema.h"
#include "core/gateway/chatrequest.h"
#include "core/gateway/chatrequestparser.h"

using namespace l0l3;

namespace {

void appendResp(std::string &out, const std::vector<std::string_view> &args)
{
    out += '*' + std::to_string(args.size()) + "\r\n";
    for (auto a : args) {
        out += '$' + std::to_string(a.size()) + "\r\n";
        out.append(a);
        out += "\r\n";
    }
}

// A support answer of realistic length (~700 bytes), different per request.
std::string answerFor(std::size_t index, std::string_view prompt)
{
    std::string a = "Here is how to handle \"";
    a.append(prompt.substr(0, 80));
    a += "\" (article " + std::to_string(index + 1) + "). ";
    a += "First, open the project settings and check that your account has the Owner or Admin role; "
         "without it the option is hidden. Make the change in a staging project before production, "
         "because it takes effect immediately for every service that uses the project. Most customers "
         "finish in under ten minutes. If you automate it, the CLI command `acme projects update --help` "
         "lists every flag, and the audit log under Security > Events records who changed what and when. "
         "Billing is not affected. If anything looks wrong afterwards, you can roll back from the same "
         "page for 30 days, or contact support with the request id shown at the top of the page.";
    return a;
}

} // namespace

int main(int argc, char **argv)
{
    std::string ns = "bench";
    std::string requestsPath;
    std::string keysPath;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--ns" && i + 1 < argc)
            ns = argv[++i];
        else if (arg == "--keys-out" && i + 1 < argc)
            keysPath = argv[++i];
        else if (!arg.starts_with("--") && requestsPath.empty())
            requestsPath = arg;
        else {
            std::fputs("Usage: l0l3_bench_seed [--ns NS] [--keys-out FILE] REQUESTS.jsonl > seed.resp\n", stderr);
            return 2;
        }
    }
    std::ifstream in(requestsPath);
    if (!in) {
        std::fprintf(stderr, "l0l3_bench_seed: cannot read %s\n", requestsPath.c_str());
        return 1;
    }
    std::ofstream keys;
    if (!keysPath.empty())
        keys.open(keysPath);

    const auto nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    ChatRequestParser parser;
    std::string resp;
    std::string line;
    std::size_t index = 0;
    while (std::getline(in, line)) {
        if (line.empty())
            continue;
        ChatRequest request;
        ChatRequestError error;
        if (!parser.parse(line, &request, &error) || !request.singleTurn) {
            std::fprintf(stderr, "l0l3_bench_seed: line %zu is not a cacheable request: %s\n", index + 1,
                         error.message.c_str());
            return 1;
        }
        Entry e;
        e.key = CacheKey::derive({ns, request.system, request.user, request.model, request.responseFormat,
                                  request.tools, request.toolChoice});
        e.response = answerFor(index, request.user);
        e.prompt = request.user;
        e.system = request.system;
        e.ns = ns;
        e.model = CacheKey::modelFamily(request.model);
        e.intent = "bench-" + std::to_string(index + 1);
        e.approvedBy = "bench";
        e.approvedAtMs = nowMs;
        appendResp(resp, {"SET", RedisSchema::entryKey(e.key), EntryCodec::encode(e)});
        if (keys)
            keys << e.key << '\n';
        ++index;
    }
    std::cout << resp;
    std::fprintf(stderr, "l0l3_bench_seed: %zu entries for namespace %s\n", index, ns.c_str());
    return index > 0 ? 0 : 1;
}
