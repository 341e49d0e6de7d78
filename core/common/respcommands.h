#pragma once

#include <charconv>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace l0l3 {

// Redis commands formatted as RESP multi-bulk requests, back to back in one
// buffer. hiredis 0.14 formats each command of redisAsyncCommandArgv with
// sdscatfmt (one call and usually a reallocation per argument, then a copy
// into the output buffer), a real cost for the console's enrichment pipelines
// of a thousand commands per page. Commands formatted here go to
// redisAsyncFormattedCommand, one call per command, which only copies.
//
//   RespCommands batch;
//   batch.add({"GET", key});
//   batch.begin(1 + keys.size()); batch.arg("EXISTS"); for (k : keys) batch.arg(k);
class RespCommands
{
public:
    // Starts a command of argc arguments; exactly argc arg() calls follow.
    void begin(std::size_t argc)
    {
        m_starts.push_back(m_bytes.size());
        m_bytes += '*';
        appendNumber(argc);
        m_bytes += "\r\n";
    }

    // One argument, perhaps made of two pieces (a key prefix and a key, say).
    void arg(std::string_view head, std::string_view tail = {})
    {
        m_bytes += '$';
        appendNumber(head.size() + tail.size());
        m_bytes += "\r\n";
        m_bytes.append(head.data(), head.size());
        m_bytes.append(tail.data(), tail.size());
        m_bytes += "\r\n";
    }

    void add(std::initializer_list<std::string_view> args)
    {
        begin(args.size());
        for (std::string_view a : args)
            arg(a);
    }

    template<typename Range>
    void addRange(const Range &args)
    {
        begin(std::size(args));
        for (const auto &a : args)
            arg(std::string_view(a.data(), std::size_t(a.size())));
    }

    void reserve(std::size_t commands, std::size_t bytes)
    {
        m_starts.reserve(commands);
        m_bytes.reserve(bytes);
    }

    // Empties the batch, keeping its memory for the next commands.
    void clear()
    {
        m_bytes.clear();
        m_starts.clear();
    }

    std::size_t size() const { return m_starts.size(); }
    bool empty() const { return m_starts.empty(); }
    // A command without arguments ("*0\r\n"): Redis would ignore it and send
    // no reply, so a connection must refuse it rather than wait.
    bool hasEmptyCommand() const
    {
        for (std::size_t i = 0; i < size(); ++i) {
            if (command(i) == "*0\r\n")
                return true;
        }
        return false;
    }

    std::string_view command(std::size_t i) const
    {
        const std::size_t end = i + 1 < m_starts.size() ? m_starts[i + 1] : m_bytes.size();
        return std::string_view(m_bytes).substr(m_starts[i], end - m_starts[i]);
    }
    const std::string &bytes() const { return m_bytes; }

private:
    void appendNumber(std::size_t n)
    {
        char buf[24];
        const auto res = std::to_chars(buf, buf + sizeof buf, n);
        m_bytes.append(buf, res.ptr);
    }

    std::string m_bytes;
    std::vector<std::size_t> m_starts;
};

} // namespace l0l3
