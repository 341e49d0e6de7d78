#include "core/control/corpusfile.h"

#include <QDateTime>
#include <QIODevice>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>

#include "core/common/cachekey.h"
#include "core/common/jsonwriter.h"
#include "core/common/redisschema.h"
#include "core/common/semanticthreshold.h"
#include "core/common/visibletext.h"

namespace l0l3 {

namespace Corpus {

bool keyMatchesFields(const Entry &entry, std::string *derived)
{
    const std::string d = CacheKey::derive({entry.ns, entry.system, entry.prompt, entry.model, {}, {}, {}});
    const bool same = d == entry.key;
    if (derived)
        *derived = d;
    return same;
}

} // namespace Corpus

namespace {

std::string utf8(const QString &s)
{
    return s.toStdString();
}

} // namespace

CorpusWriter::CorpusWriter(QIODevice *device)
    : m_device(device)
{
}

bool CorpusWriter::writeLine(const std::string &json)
{
    if (!m_error.isEmpty())
        return false;
    // Control characters, bidi controls and separators as \u escapes: the same values, safe on a terminal.
    std::string line = VisibleText::escapeJson(json);
    line += '\n';
    const qint64 written = m_device->write(line.data(), qint64(line.size()));
    if (written != qint64(line.size())) {
        m_error = QStringLiteral("write failed: %1").arg(m_device->errorString());
        return false;
    }
    m_hash.addData(QByteArrayView(line.data(), qsizetype(line.size())));
    m_bytes += written;
    ++m_trailer.lines;
    return true;
}

bool CorpusWriter::writeHeader(const Corpus::Header &header)
{
    if (m_headerWritten) {
        m_error = QStringLiteral("the header is written once, first");
        return false;
    }
    m_headerWritten = true;
    std::string out;
    JsonWriter w(out);
    w.beginObject()
        .key("t")
        .value("header")
        .key("format")
        .value(Corpus::kFormatName)
        .key("version")
        .value(Corpus::kFormatVersion)
        .key("schema")
        .value(RedisSchema::kPrefix)
        .key("source")
        .value(utf8(header.source))
        .key("created_at_ms")
        .value(std::int64_t(header.createdAtMs))
        .key("created_at")
        .value(utf8(QDateTime::fromMSecsSinceEpoch(header.createdAtMs, Qt::UTC).toString(Qt::ISODateWithMs)))
        .key("contains")
        .beginArray();
    for (const QString &c : header.contains)
        w.value(utf8(c));
    w.endArray().key("tool").value(utf8(header.tool)).endObject();
    return writeLine(out);
}

bool CorpusWriter::writeEntry(const Entry &e, qint64 ttlRemainingSeconds, const Corpus::L1State &l1)
{
    std::string out;
    out.reserve(256 + e.response.size() + e.prompt.size() + e.system.size());
    JsonWriter w(out);
    w.beginObject()
        .key("t")
        .value("entry")
        .key("key")
        .value(e.key)
        .key("ns")
        .value(e.ns)
        .key("system")
        .value(e.system)
        .key("prompt")
        .value(e.prompt)
        .key("response")
        .value(e.response)
        .key("model")
        .value(e.model)
        .key("intent")
        .value(e.intent)
        .key("version")
        .value(e.version)
        .key("approved_by")
        .value(e.approvedBy)
        .key("approved_at_ms")
        .value(e.approvedAtMs)
        .key("ttl_s")
        .value(e.ttlSeconds)
        .key("ttl_remaining_s")
        .value(std::int64_t(ttlRemainingSeconds < 0 ? -1 : ttlRemainingSeconds))
        .key("key_fields")
        .value(Corpus::keyMatchesFields(e) ? "complete" : "partial");
    // Only when set: a file without them restores entries that derive their review date.
    if (e.reviewByMs > 0)
        w.key("review_by_ms").value(e.reviewByMs);
    if (e.reviewDays > 0)
        w.key("review_days").value(e.reviewDays);
    // A variant names its main entry; the import rebuilds the main entry's variant set from it.
    if (!e.variantOf.empty())
        w.key("variant_of").value(e.variantOf);
    if (l1.threshold > 0.0f)
        w.key("l1_threshold").value(double(l1.threshold));
    if (l1.threshold > 0.0f && l1.denied)
        w.key("l1_denied").value(double(*l1.denied));
    if (l1.threshold > 0.0f && !l1.evidence.empty()) {
        w.key("l1_evidence").beginArray();
        for (const float s : l1.evidence)
            w.value(double(s));
        w.endArray();
    }
    if (!l1.negatives.isEmpty()) {
        w.key("l1_negatives").beginArray();
        for (const QString &k : l1.negatives)
            w.value(utf8(k));
        w.endArray();
    }
    w.endObject();
    if (!writeLine(out))
        return false;
    ++m_trailer.entries;
    return true;
}

bool CorpusWriter::writeRejected(const QString &key, qint64 untilMs)
{
    std::string out;
    JsonWriter w(out);
    w.beginObject()
        .key("t")
        .value("rejected")
        .key("key")
        .value(utf8(key))
        .key("until_ms")
        .value(std::int64_t(untilMs))
        .endObject();
    if (!writeLine(out))
        return false;
    ++m_trailer.rejected;
    return true;
}

bool CorpusWriter::writeAudit(const AuditRecord &r)
{
    std::string out;
    JsonWriter w(out);
    w.beginObject()
        .key("t")
        .value("audit")
        .key("id")
        .value(r.id)
        .key("action")
        .value(r.action)
        .key("key")
        .value(r.key)
        .key("actor")
        .value(r.actor)
        .key("user")
        .value(r.user)
        .key("ts_ms")
        .value(r.tsMs)
        .key("version")
        .value(r.version)
        .key("prev_version")
        .value(r.prevVersion)
        .key("detail")
        .value(r.detail)
        .endObject();
    if (!writeLine(out))
        return false;
    ++m_trailer.audit;
    return true;
}

bool CorpusWriter::finish()
{
    if (m_finished || !m_headerWritten) {
        m_error = QStringLiteral("the trailer follows the header, once");
        return false;
    }
    if (!m_error.isEmpty())
        return false;
    m_finished = true;
    const QByteArray digest = m_hash.result().toHex();
    std::string out;
    JsonWriter w(out);
    w.beginObject()
        .key("t")
        .value("trailer")
        .key("lines")
        .value(std::int64_t(m_trailer.lines))
        .key("entries")
        .value(std::int64_t(m_trailer.entries))
        .key("rejected")
        .value(std::int64_t(m_trailer.rejected))
        .key("audit")
        .value(std::int64_t(m_trailer.audit))
        .key("sha256")
        .value(std::string_view(digest.constData(), size_t(digest.size())))
        .endObject();
    out += '\n';
    if (m_device->write(out.data(), qint64(out.size())) != qint64(out.size())) {
        m_error = QStringLiteral("write failed: %1").arg(m_device->errorString());
        return false;
    }
    m_bytes += qint64(out.size());
    return true;
}

namespace {

// Field readers of one untrusted line; each sets *why on failure.
struct Fields
{
    const QJsonObject &o;
    QString *why;

    bool string(const char *name, QString *target, qsizetype maxBytes = Corpus::kMaxLineBytes) const
    {
        const QJsonValue v = o.value(QLatin1String(name));
        if (!v.isString()) {
            *why = QStringLiteral("field \"%1\" is missing or not a string").arg(QLatin1String(name));
            return false;
        }
        *target = v.toString();
        if (target->size() * 3 > maxBytes && target->toUtf8().size() > maxBytes) {
            *why = QStringLiteral("field \"%1\" is longer than %2 bytes").arg(QLatin1String(name)).arg(maxBytes);
            return false;
        }
        return true;
    }
    bool string(const char *name, std::string *target, qsizetype maxBytes = Corpus::kMaxLineBytes) const
    {
        QString s;
        if (!string(name, &s, maxBytes))
            return false;
        *target = s.toStdString();
        return true;
    }
    bool integer(const char *name, qint64 *target, qint64 min) const
    {
        const QJsonValue v = o.value(QLatin1String(name));
        // toInteger gives its default for anything but a whole number that fits.
        const qint64 a = v.toInteger(-1);
        const qint64 b = v.toInteger(-2);
        if (!v.isDouble() || a != b) {
            *why = QStringLiteral("field \"%1\" is missing or not an integer").arg(QLatin1String(name));
            return false;
        }
        if (a < min) {
            *why = QStringLiteral("field \"%1\" is %2, below %3").arg(QLatin1String(name)).arg(a).arg(min);
            return false;
        }
        *target = a;
        return true;
    }
    bool integer(const char *name, std::int64_t *target, qint64 min) const
    {
        qint64 v = 0;
        if (!integer(name, &v, min))
            return false;
        *target = v;
        return true;
    }
};

bool validKey(const QString &key)
{
    return CacheKey::isValid(key.toStdString());
}

// The optional variant_of, l1_threshold, l1_denied, l1_evidence and l1_negatives of an
// entry line (files written before them have none); an error says which is wrong.
// SemanticThreshold::restore() fits the threshold's state to its rule on import.
std::optional<QString> parseL1(const QJsonObject &o, Corpus::EntryLine *line)
{
    QString why;
    const Fields f{o, &why};
    Entry &e = line->entry;
    if (o.contains(QLatin1String("variant_of"))) {
        if (!f.string("variant_of", &e.variantOf, 64))
            return why;
        if (!CacheKey::isValid(e.variantOf) || e.variantOf == e.key)
            return QStringLiteral("field \"variant_of\" is not the key of another entry");
    }
    if (o.contains(QLatin1String("l1_threshold"))) {
        const QJsonValue v = o.value(QLatin1String("l1_threshold"));
        const double t = v.toDouble(-1.0);
        if (!v.isDouble() || !(t >= double(SemanticThreshold::kFloor) && t <= double(SemanticThreshold::kCeiling)))
            return QStringLiteral("field \"l1_threshold\" is not a number from %1 to %2")
                .arg(double(SemanticThreshold::kFloor))
                .arg(double(SemanticThreshold::kCeiling));
        line->l1.threshold = float(t);
    }
    if (o.contains(QLatin1String("l1_denied"))) {
        const QJsonValue v = o.value(QLatin1String("l1_denied"));
        const double d = v.toDouble(-2.0);
        if (!v.isDouble() || !(d >= -1.0 && d <= 1.0))
            return QStringLiteral("field \"l1_denied\" is not a number from -1 to 1");
        line->l1.denied = float(d);
    }
    if (o.contains(QLatin1String("l1_evidence"))) {
        const QJsonValue v = o.value(QLatin1String("l1_evidence"));
        if (!v.isArray() || v.toArray().size() > qsizetype(SemanticThreshold::kMaxEvidence))
            return QStringLiteral("field \"l1_evidence\" is not an array of at most %1 numbers")
                .arg(SemanticThreshold::kMaxEvidence);
        for (const QJsonValue &s : v.toArray()) {
            const double x = s.toDouble(-1.0);
            if (!s.isDouble() || !(x >= double(SemanticThreshold::kFloor) && x <= double(SemanticThreshold::kCeiling)))
                return QStringLiteral("field \"l1_evidence\" holds something other than similarities from %1 to %2")
                    .arg(double(SemanticThreshold::kFloor))
                    .arg(double(SemanticThreshold::kCeiling));
            line->l1.evidence.push_back(float(x));
        }
    }
    if (o.contains(QLatin1String("l1_negatives"))) {
        const QJsonValue v = o.value(QLatin1String("l1_negatives"));
        if (!v.isArray() || v.toArray().size() > qsizetype(RedisSchema::kMaxL1Negatives))
            return QStringLiteral("field \"l1_negatives\" is not an array of at most %1 keys")
                .arg(RedisSchema::kMaxL1Negatives);
        for (const QJsonValue &k : v.toArray()) {
            if (!k.isString() || !validKey(k.toString()))
                return QStringLiteral("field \"l1_negatives\" holds something other than cache keys");
            line->l1.negatives.append(k.toString());
        }
    }
    return std::nullopt;
}

} // namespace

CorpusReader::CorpusReader(QIODevice *device)
    : m_device(device)
{
}

std::optional<Corpus::Line> CorpusReader::fail(const QString &message)
{
    if (m_error.isEmpty())
        m_error = QStringLiteral("line %1: %2").arg(m_lineNumber).arg(message);
    return std::nullopt;
}

std::optional<Corpus::Line> CorpusReader::next()
{
    if (!m_error.isEmpty())
        return std::nullopt;
    if (m_device->atEnd()) {
        if (!m_sawTrailer) {
            ++m_lineNumber;
            return fail(m_lineNumber == 1 ? QStringLiteral("the file is empty")
                                          : QStringLiteral("the file ends without its trailer line: it is truncated"));
        }
        return std::nullopt;
    }
    ++m_lineNumber;
    if (m_sawTrailer)
        return fail(QStringLiteral("there is more after the trailer line"));
    const QByteArray line = m_device->readLine(Corpus::kMaxLineBytes + 1);
    if (line.isEmpty() && !m_device->errorString().isEmpty() && !m_device->atEnd())
        return fail(QStringLiteral("read error: %1").arg(m_device->errorString()));
    if (!line.endsWith('\n')) {
        if (line.size() > Corpus::kMaxLineBytes)
            return fail(QStringLiteral("the line is longer than %1 bytes").arg(Corpus::kMaxLineBytes));
        return fail(QStringLiteral("the line has no end (the file is truncated)"));
    }
    std::optional<Corpus::Line> parsed = parse(line);
    if (parsed && parsed->type != Corpus::Line::Type::Trailer)
        m_hash.addData(line);
    return parsed;
}

std::optional<Corpus::Line> CorpusReader::parse(const QByteArray &line)
{
    QJsonParseError perr;
    const QJsonDocument doc = QJsonDocument::fromJson(line, &perr);
    if (perr.error != QJsonParseError::NoError)
        return fail(QStringLiteral("not JSON (%1 at byte %2)").arg(perr.errorString()).arg(perr.offset));
    if (!doc.isObject())
        return fail(QStringLiteral("not a JSON object"));
    const QJsonObject o = doc.object();
    QString why;
    const Fields f{o, &why};
    QString type;
    if (!f.string("t", &type, 16))
        return fail(why);
    Corpus::Line out;
    if (m_lineNumber == 1 && type != QLatin1String("header"))
        return fail(QStringLiteral("the first line is not a header: this is not an l0l3 export file"));
    if (type == QLatin1String("header")) {
        if (m_lineNumber != 1)
            return fail(QStringLiteral("a header after the first line"));
        QString format;
        qint64 version = 0;
        if (!f.string("format", &format, 64))
            return fail(why);
        if (format != QLatin1String(Corpus::kFormatName))
            return fail(QStringLiteral("format \"%1\" is not \"%2\"").arg(format, QLatin1String(Corpus::kFormatName)));
        if (!f.integer("version", &version, 1))
            return fail(why);
        if (version != Corpus::kFormatVersion)
            return fail(QStringLiteral("format version %1 is not supported (this l0l3 reads version %2)")
                            .arg(version)
                            .arg(Corpus::kFormatVersion));
        QString schema;
        if (!f.string("schema", &schema, 64))
            return fail(why);
        if (schema != QLatin1String(RedisSchema::kPrefix.data(), qsizetype(RedisSchema::kPrefix.size())))
            return fail(QStringLiteral("Redis schema \"%1\" is not this l0l3's").arg(schema));
        out.type = Corpus::Line::Type::Header;
        out.header.version = int(version);
        if (!f.string("source", &out.header.source, Corpus::kMaxShortField)
            || !f.integer("created_at_ms", &out.header.createdAtMs, 0)
            || !f.string("tool", &out.header.tool, Corpus::kMaxShortField))
            return fail(why);
        const QJsonValue contains = o.value(QLatin1String("contains"));
        if (!contains.isArray())
            return fail(QStringLiteral("field \"contains\" is missing or not an array"));
        for (const QJsonValue &c : contains.toArray()) {
            if (!c.isString() || c.toString().size() > 64)
                return fail(QStringLiteral("field \"contains\" holds something other than short names"));
            out.header.contains.append(c.toString());
        }
        m_header = out.header;
        return out;
    }
    if (type == QLatin1String("entry")) {
        out.type = Corpus::Line::Type::Entry;
        Entry &e = out.entry.entry;
        QString keyFields;
        if (!f.string("key", &e.key, 64) || !f.string("ns", &e.ns, Corpus::kMaxShortField)
            || !f.string("system", &e.system) || !f.string("prompt", &e.prompt) || !f.string("response", &e.response)
            || !f.string("model", &e.model, Corpus::kMaxShortField)
            || !f.string("intent", &e.intent, Corpus::kMaxShortField) || !f.integer("version", &e.version, 1)
            || !f.string("approved_by", &e.approvedBy, Corpus::kMaxShortField)
            || !f.integer("approved_at_ms", &e.approvedAtMs, 0) || !f.integer("ttl_s", &e.ttlSeconds, 0)
            || !f.integer("ttl_remaining_s", &out.entry.ttlRemainingSeconds, -1)
            || !f.string("key_fields", &keyFields, 16))
            return fail(why);
        for (const auto &[name, target] : {std::pair{"review_by_ms", &e.reviewByMs}, {"review_days", &e.reviewDays}}) {
            if (o.contains(QLatin1String(name)) && !f.integer(name, target, 0))
                return fail(why);
        }
        if (!CacheKey::isValid(e.key))
            return fail(QStringLiteral("key \"%1\" is not 32 lower-case hex digits")
                            .arg(QString::fromStdString(e.key.substr(0, 64))));
        if (std::optional<QString> l1Error = parseL1(o, &out.entry))
            return fail(*l1Error);
        if (keyFields == QLatin1String("complete")) {
            out.entry.keyFieldsComplete = true;
            std::string derived;
            if (!Corpus::keyMatchesFields(e, &derived))
                return fail(QStringLiteral("key %1 is not the key of the entry's fields (%2): forged or damaged")
                                .arg(QString::fromStdString(e.key), QString::fromStdString(derived)));
        } else if (keyFields == QLatin1String("partial")) {
            out.entry.keyFieldsComplete = false;
            ++m_unverifiedKeys;
        } else {
            return fail(
                QStringLiteral("field \"key_fields\" is \"%1\", not \"complete\" or \"partial\"").arg(keyFields));
        }
        ++m_entries;
        return out;
    }
    if (type == QLatin1String("rejected")) {
        out.type = Corpus::Line::Type::Rejected;
        if (!f.string("key", &out.rejected.key, 64) || !f.integer("until_ms", &out.rejected.untilMs, 0))
            return fail(why);
        if (!validKey(out.rejected.key))
            return fail(QStringLiteral("rejected key \"%1\" is not 32 lower-case hex digits").arg(out.rejected.key));
        ++m_rejected;
        return out;
    }
    if (type == QLatin1String("audit")) {
        out.type = Corpus::Line::Type::Audit;
        AuditRecord &r = out.audit;
        if (!f.string("id", &r.id, 64) || !f.string("action", &r.action, Corpus::kMaxShortField)
            || !f.string("key", &r.key, Corpus::kMaxShortField) || !f.string("actor", &r.actor, Corpus::kMaxShortField)
            || !f.integer("ts_ms", &r.tsMs, 0) || !f.integer("version", &r.version, 0)
            || !f.integer("prev_version", &r.prevVersion, 0) || !f.string("detail", &r.detail))
            return fail(why);
        // The authenticated ACL user; files written before it was exported have none.
        if (o.contains(QLatin1String("user")) && !f.string("user", &r.user, Corpus::kMaxShortField))
            return fail(why);
        ++m_audit;
        return out;
    }
    if (type == QLatin1String("trailer")) {
        out.type = Corpus::Line::Type::Trailer;
        Corpus::Trailer &t = out.trailer;
        QString sha;
        if (!f.integer("lines", &t.lines, 1) || !f.integer("entries", &t.entries, 0)
            || !f.integer("rejected", &t.rejected, 0) || !f.integer("audit", &t.audit, 0)
            || !f.string("sha256", &sha, 64))
            return fail(why);
        t.sha256 = sha.toLatin1();
        if (t.lines != m_lineNumber - 1)
            return fail(QStringLiteral("the trailer counts %1 lines before it, the file has %2: lines are missing "
                                       "or added")
                            .arg(t.lines)
                            .arg(m_lineNumber - 1));
        if (t.entries != m_entries || t.rejected != m_rejected || t.audit != m_audit)
            return fail(QStringLiteral("the trailer counts %1 entries, %2 rejected, %3 audit records; the file has "
                                       "%4, %5, %6")
                            .arg(t.entries)
                            .arg(t.rejected)
                            .arg(t.audit)
                            .arg(m_entries)
                            .arg(m_rejected)
                            .arg(m_audit));
        const QByteArray digest = m_hash.result().toHex();
        if (t.sha256 != digest)
            return fail(QStringLiteral("checksum mismatch: the trailer says sha256 %1, the lines before it give %2: "
                                       "the file is corrupted")
                            .arg(QString::fromLatin1(t.sha256), QString::fromLatin1(digest)));
        m_sawTrailer = true;
        return out;
    }
    return fail(QStringLiteral("unknown line type \"%1\"").arg(type));
}

bool CorpusReader::validateAll()
{
    while (next()) {}
    return m_error.isEmpty() && m_sawTrailer;
}

} // namespace l0l3
