#pragma once

#include <QString>

namespace l0l3 {

// How the console writes times, ages and long texts in tables.
class Formatting
{
public:
    // "12 s", "5 min", "3 h", "2 d"; "now" under a second, "—" for negative ages.
    static QString age(qint64 ms);
    // Local date and time of a ms epoch; "—" for 0.
    static QString timestamp(qint64 msEpoch);
    // Remaining TTL in seconds; "no expiry" for -1.
    static QString ttl(qint64 seconds);
    // White space collapsed to single spaces, cut to maxChars with an ellipsis.
    static QString oneLine(const QString &text, int maxChars);
};

} // namespace l0l3
