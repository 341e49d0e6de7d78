#pragma once

#include <QByteArray>

#include <string>
#include <vector>

#include "core/common/entry.h"
#include "core/common/vectorrecord.h"

namespace l0l3::test {

class RedisClient;

// An approved chat answer and its L1 vector record, written to Redis the way
// the console writes them: what the L1 tests serve from.
class L1Approval
{
public:
    // The entry for one user message (after an optional system message) to
    // ChatWire::kModel in namespace "default", approved by "testkit" now.
    static Entry entry(const std::string &prompt, const std::string &response, const std::string &system = {});

    // The vector record of e (its namespace, normalised system prompt's
    // SHA-256 and model family) with the given model, threshold and vector.
    static VectorRecord record(const Entry &e, const std::string &model, float threshold, std::vector<float> vector);

    // Writes e and r in one MULTI/EXEC, then publishes e's key on the
    // invalidation channel so gateways read its vector again. Returns the
    // key; empty (the reason logged) when r does not encode or EXEC failed.
    static QByteArray store(RedisClient &primary, const Entry &e, const VectorRecord &r);
};

} // namespace l0l3::test
