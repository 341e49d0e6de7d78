#include "core/localstack/dataset.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>

namespace l0l3 {

namespace {

std::optional<Dataset> fail(QString *error, const QString &why)
{
    if (error)
        *error = why;
    return std::nullopt;
}

} // namespace

std::optional<Dataset> Dataset::load(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(error, QStringLiteral("cannot read dataset %1: %2").arg(path, file.errorString()));
    QString why;
    auto dataset = fromJson(file.readAll(), &why);
    if (!dataset)
        return fail(error, QStringLiteral("bad dataset %1: %2").arg(path, why));
    return dataset;
}

std::optional<Dataset> Dataset::fromJson(const QByteArray &json, QString *error)
{
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        return fail(
            error,
            QStringLiteral("invalid JSON at offset %1: %2").arg(parseError.offset).arg(parseError.errorString()));
    if (!doc.isObject())
        return fail(error, QStringLiteral("top level is not an object"));
    const QJsonObject root = doc.object();

    Dataset dataset;
    dataset.m_model = root.value(QLatin1String("model")).toString(QStringLiteral("gpt-4o-mini"));
    const QJsonValue system = root.value(QLatin1String("system_prompt"));
    if (!system.isString())
        return fail(error, QStringLiteral("$.system_prompt: missing or not a string"));
    dataset.m_systemPrompt = system.toString();

    const QJsonValue intents = root.value(QLatin1String("intents"));
    if (!intents.isArray() || intents.toArray().isEmpty())
        return fail(error, QStringLiteral("$.intents: missing, not an array or empty"));
    const QJsonArray array = intents.toArray();
    for (qsizetype i = 0; i < array.size(); ++i) {
        const QString at = QStringLiteral("$.intents[%1]").arg(i);
        if (!array.at(i).isObject())
            return fail(error, at + QStringLiteral(": not an object"));
        const QJsonObject o = array.at(i).toObject();
        DatasetIntent intent;
        intent.id = o.value(QLatin1String("id")).toString();
        if (intent.id.isEmpty())
            return fail(error, at + QStringLiteral(".id: missing or not a string"));
        intent.title = o.value(QLatin1String("title")).toString(intent.id);
        const QJsonValue weight = o.value(QLatin1String("weight"));
        if (!weight.isDouble() || !(weight.toDouble() > 0))
            return fail(error, at + QStringLiteral(".weight: must be a positive number"));
        intent.weight = weight.toDouble();
        const QJsonValue regions = o.value(QLatin1String("regions"));
        if (!regions.isUndefined()) {
            if (!regions.isObject())
                return fail(error, at + QStringLiteral(".regions: not an object"));
            const QJsonObject mix = regions.toObject();
            for (auto it = mix.begin(); it != mix.end(); ++it) {
                if (!it.value().isDouble() || it.value().toDouble() < 0)
                    return fail(error, at + QStringLiteral(".regions.%1: must be a number >= 0").arg(it.key()));
                intent.regionMix.insert(it.key(), it.value().toDouble());
            }
        }
        const QJsonValue staged = o.value(QLatin1String("staged"));
        if (!staged.isUndefined() && !staged.isBool())
            return fail(error, at + QStringLiteral(".staged: not a boolean"));
        intent.staged = staged.toBool(false);
        const QJsonValue paraphrases = o.value(QLatin1String("paraphrases"));
        if (!paraphrases.isArray() || paraphrases.toArray().isEmpty())
            return fail(error, at + QStringLiteral(".paraphrases: missing, not an array or empty"));
        const QJsonArray texts = paraphrases.toArray();
        for (qsizetype j = 0; j < texts.size(); ++j) {
            if (!texts.at(j).isString() || texts.at(j).toString().trimmed().isEmpty())
                return fail(error, at + QStringLiteral(".paraphrases[%1]: not a non-empty string").arg(j));
            intent.paraphrases.append(texts.at(j).toString());
        }
        dataset.m_intents.append(intent);
    }
    return dataset;
}

int Dataset::promptCount() const
{
    int n = 0;
    for (const DatasetIntent &intent : m_intents)
        n += int(intent.paraphrases.size());
    return n;
}

} // namespace l0l3
