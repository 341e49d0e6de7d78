#pragma once

#include <QByteArray>
#include <QCryptographicHash>
#include <QString>
#include <QStringList>

#include <optional>
#include <vector>

#include "core/common/auditrecord.h"
#include "core/common/entry.h"

class QIODevice;

namespace l0l3 {

// The export file of the approved corpus ("l0l3-corpus", docs/SCHEMA.md,
// "Export file"): JSON Lines, one object per line, each with a type "t":
// a header, then entries, rejected keys and audit records in any order, then
// a trailer with the counts and the SHA-256 of every byte before it. Every
// line is written through VisibleText::escapeJson, so the file is safe to cat
// and still holds the exact text.
namespace Corpus {

inline constexpr char kFormatName[] = "l0l3-corpus";
inline constexpr int kFormatVersion = 1;
// Bounds a reader enforces on untrusted files.
inline constexpr qsizetype kMaxLineBytes = 16 * 1024 * 1024;
inline constexpr qsizetype kMaxShortField = 1024; // ns, model, intent, approved_by, actor, user, action

struct Header
{
    int version = kFormatVersion;
    QString source; // redacted URL of the primary it was read from
    qint64 createdAtMs = 0;
    QStringList contains; // "entries", "rejected", optionally "audit"
    QString tool;         // e.g. "l0l3-ctl"
};

struct Trailer
{
    qint64 entries = 0;
    qint64 rejected = 0;
    qint64 audit = 0;
    qint64 lines = 0;  // lines before the trailer, header included
    QByteArray sha256; // lower-case hex over every byte before the trailer line
};

// An entry's L1 state beside it: its own similarity threshold with the rest
// of its state (from its vector record: the highest similarity denied and
// the confirmations below the threshold) and its negative pairs ("not the
// same question" keys).
struct L1State
{
    float threshold = 0.0f;      // 0: none in the file (no vector record)
    QStringList negatives;       // cache keys, at most RedisSchema::kMaxL1Negatives
    std::optional<float> denied; // -1 to 1; nullopt: none in the file
    std::vector<float> evidence; // at most SemanticThreshold::kMaxEvidence, each kFloor to kCeiling
};

// One approved entry as exported.
struct EntryLine
{
    Entry entry;
    L1State l1;
    qint64 ttlRemainingSeconds = -1; // -1: no expiry
    // False when the key was derived from request fields the entry does not
    // keep (response_format, tools, tool_choice): the reader cannot recompute it.
    bool keyFieldsComplete = true;
};

struct RejectedLine
{
    QString key;
    qint64 untilMs = 0;
};

struct Line
{
    enum class Type { Header, Entry, Rejected, Audit, Trailer };
    Type type = Type::Header;
    Header header;
    EntryLine entry;
    RejectedLine rejected;
    AuditRecord audit;
    Trailer trailer;
};

// True when key is what CacheKey::derive gives for the entry's own fields
// (namespace, system prompt, prompt, model, no JSON fields) — the derivation
// ApprovalService checks proposals with.
bool keyMatchesFields(const Entry &entry, std::string *derived = nullptr);

} // namespace Corpus

// Writes the file line by line to a device the caller opened (nothing is kept
// but the running hash and counts: constant memory).
class CorpusWriter
{
public:
    explicit CorpusWriter(QIODevice *device);

    bool writeHeader(const Corpus::Header &header);
    bool writeEntry(const Entry &entry, qint64 ttlRemainingSeconds, const Corpus::L1State &l1 = {});
    bool writeRejected(const QString &key, qint64 untilMs);
    bool writeAudit(const AuditRecord &record);
    // The trailer; nothing may be written after it.
    bool finish();

    qint64 entries() const { return m_trailer.entries; }
    qint64 rejected() const { return m_trailer.rejected; }
    qint64 audit() const { return m_trailer.audit; }
    qint64 bytesWritten() const { return m_bytes; }
    QString errorString() const { return m_error; }

private:
    bool writeLine(const std::string &json);

    QIODevice *m_device;
    QCryptographicHash m_hash{QCryptographicHash::Sha256};
    Corpus::Trailer m_trailer;
    qint64 m_bytes = 0;
    bool m_headerWritten = false;
    bool m_finished = false;
    QString m_error;
};

// Reads the file line by line and checks every line: its shape, sizes, the
// key of each entry (recomputed where the entry carries what it is derived
// from), and at the end the trailer's counts and checksum. Errors name the
// line ("line 12: ..."). A file is valid only once next() returned the
// trailer and then atEnd() is true with no error.
class CorpusReader
{
public:
    explicit CorpusReader(QIODevice *device);

    // The next line, or nullopt at the end of the file or on an error
    // (errorString() is set then; at a clean end it is empty).
    std::optional<Corpus::Line> next();
    bool hasError() const { return !m_error.isEmpty(); }
    QString errorString() const { return m_error; }
    qint64 lineNumber() const { return m_lineNumber; }
    bool sawTrailer() const { return m_sawTrailer; }
    const Corpus::Header &header() const { return m_header; }
    qint64 entries() const { return m_entries; }
    qint64 rejected() const { return m_rejected; }
    qint64 audit() const { return m_audit; }
    // Entries whose key could not be recomputed (keyFieldsComplete false).
    qint64 unverifiedKeys() const { return m_unverifiedKeys; }

    // Reads to the end and checks everything; true for a complete, valid file.
    bool validateAll();

private:
    std::optional<Corpus::Line> fail(const QString &message);
    std::optional<Corpus::Line> parse(const QByteArray &line);

    QIODevice *m_device;
    QCryptographicHash m_hash{QCryptographicHash::Sha256};
    Corpus::Header m_header;
    qint64 m_lineNumber = 0;
    qint64 m_entries = 0;
    qint64 m_rejected = 0;
    qint64 m_audit = 0;
    qint64 m_unverifiedKeys = 0;
    bool m_sawTrailer = false;
    QString m_error;
};

} // namespace l0l3
