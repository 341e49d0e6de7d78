#include "tests/integration/chatwire.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonParseError>
#include <QList>

namespace l0l3::test {

QByteArray ChatWire::chatBody(const QString &prompt, const QJsonObject &extra)
{
    QJsonObject body{
        {QStringLiteral("model"), QString::fromLatin1(kModel)},
        {QStringLiteral("messages"),
         QJsonArray{
             QJsonObject{{QStringLiteral("role"), QStringLiteral("user")}, {QStringLiteral("content"), prompt}}}},
    };
    for (auto it = extra.begin(); it != extra.end(); ++it)
        body.insert(it.key(), it.value());
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

QString ChatWire::completionContent(const QByteArray &body, QString *why)
{
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(body, &parseError);
    const QJsonObject root = doc.object();
    const QJsonValue content =
        root.value(u"choices").toArray().at(0).toObject().value(u"message").toObject().value(u"content");
    if (parseError.error != QJsonParseError::NoError || root.value(u"object").toString() != u"chat.completion"
        || !content.isString()) {
        if (why)
            *why = QStringLiteral("not a chat.completion: ") + QString::fromUtf8(body.left(500));
        return {};
    }
    return content.toString();
}

QString ChatWire::sseContent(const QByteArray &body, QString *why)
{
    auto fail = [why, &body](const QString &reason) {
        if (why)
            *why = reason + QStringLiteral("\nbody: ") + QString::fromUtf8(body.left(2000));
        return QString();
    };
    if (!body.endsWith("data: [DONE]\n\n"))
        return fail(QStringLiteral("does not end with data: [DONE]"));
    QList<QByteArray> events = body.split('\n');
    QString content = QStringLiteral(""); // not null: an empty answer is still an answer
    bool done = false;
    bool sawRole = false;
    bool sawStop = false;
    int chunks = 0;
    QString id;
    for (qsizetype i = 0; i < events.size(); ++i) {
        const QByteArray &line = events.at(i);
        if (line.isEmpty())
            continue;
        if (done)
            return fail(QStringLiteral("data after [DONE]"));
        if (!line.startsWith("data: "))
            return fail(QStringLiteral("line %1 is not a data event: %2").arg(i).arg(QString::fromUtf8(line)));
        // Events are separated by a blank line.
        if (i + 1 >= events.size() || !events.at(i + 1).isEmpty())
            return fail(QStringLiteral("event on line %1 is not followed by a blank line").arg(i));
        const QByteArray payload = line.mid(6);
        if (payload == "[DONE]") {
            done = true;
            continue;
        }
        QJsonParseError parseError;
        const QJsonObject chunk = QJsonDocument::fromJson(payload, &parseError).object();
        if (parseError.error != QJsonParseError::NoError)
            return fail(QStringLiteral("line %1 is not JSON: %2").arg(i).arg(parseError.errorString()));
        if (chunk.value(u"object").toString() != u"chat.completion.chunk")
            return fail(QStringLiteral("line %1 is not a chat.completion.chunk").arg(i));
        const QString chunkId = chunk.value(u"id").toString();
        if (chunkId.isEmpty() || (!id.isEmpty() && chunkId != id))
            return fail(QStringLiteral("line %1 has a missing or changing id").arg(i));
        id = chunkId;
        const QJsonObject choice = chunk.value(u"choices").toArray().at(0).toObject();
        if (!choice.value(u"delta").isObject())
            return fail(QStringLiteral("line %1 has no choices[0].delta").arg(i));
        const QJsonObject delta = choice.value(u"delta").toObject();
        sawRole = sawRole || delta.value(u"role").toString() == u"assistant";
        sawStop = sawStop || choice.value(u"finish_reason").toString() == u"stop";
        if (delta.contains(u"content")) {
            if (!delta.value(u"content").isString())
                return fail(QStringLiteral("line %1 has a non-string delta.content").arg(i));
            content += delta.value(u"content").toString();
        }
        ++chunks;
    }
    if (!done || chunks == 0)
        return fail(QStringLiteral("no chunks before [DONE]"));
    if (!sawRole)
        return fail(QStringLiteral("no chunk carries delta.role \"assistant\""));
    if (!sawStop)
        return fail(QStringLiteral("no chunk carries finish_reason \"stop\""));
    return content;
}

bool ChatWire::isOpenAiError(const QByteArray &body, QString *why)
{
    QJsonParseError parseError;
    const QJsonObject error = QJsonDocument::fromJson(body, &parseError).object().value(u"error").toObject();
    const bool ok = parseError.error == QJsonParseError::NoError && !error.value(u"message").toString().isEmpty()
        && !error.value(u"type").toString().isEmpty() && error.contains(u"code")
        && (error.value(u"code").isString() || error.value(u"code").isNull());
    if (!ok && why)
        *why = QStringLiteral("not an OpenAI-shaped error: ") + QString::fromUtf8(body.left(500));
    return ok;
}

double ChatWire::sum(const std::vector<PromSample> &samples, const std::string &name,
                     const std::map<std::string, std::string> &match)
{
    double total = 0;
    for (const PromSample &sample : samples) {
        if (sample.name != name)
            continue;
        bool matches = true;
        for (const auto &[label, value] : match) {
            const auto it = sample.labels.find(label);
            matches = matches && it != sample.labels.end() && it->second == value;
        }
        if (matches)
            total += sample.value;
    }
    return total;
}

double ChatWire::errorRequests(const std::vector<PromSample> &samples)
{
    double total = 0;
    for (const PromSample &sample : samples) {
        if (sample.name != "l0l3_requests_total")
            continue;
        const auto it = sample.labels.find("outcome");
        const std::string outcome = it == sample.labels.end() ? std::string() : it->second;
        if (outcome != "hit" && outcome != "miss" && outcome != "bypass")
            total += sample.value;
    }
    return total;
}

std::vector<Proposal> ChatWire::proposals(const RedisValue &xrangeReply)
{
    std::vector<Proposal> result;
    for (const RedisValue &entry : xrangeReply.elements) {
        if (entry.elements.size() != 2)
            continue;
        StreamFields fields;
        const QList<RedisValue> &flat = entry.elements.at(1).elements;
        for (qsizetype i = 0; i + 1 < flat.size(); i += 2)
            fields.emplace_back(flat.at(i).str.toStdString(), flat.at(i + 1).str.toStdString());
        if (auto proposal = ProposalCodec::decode(entry.elements.at(0).str.toStdString(), fields))
            result.push_back(std::move(*proposal));
    }
    return result;
}

} // namespace l0l3::test
