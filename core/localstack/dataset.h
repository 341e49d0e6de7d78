#pragma once

#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

namespace l0l3 {

struct DatasetIntent
{
    QString id;
    QString title;
    double weight = 0;                // Zipf popularity
    QHash<QString, double> regionMix; // region -> multiplier; missing = 1.0
    QStringList paraphrases;          // the first one is the canonical phrasing
    // TrafficOptions::stageParaphrases: only the first paraphrase is sent until it is served as a hit.
    bool staged = false;

    double weightIn(const QString &region) const
    {
        return region.isEmpty() ? weight : weight * regionMix.value(region, 1.0);
    }
};

// The demo traffic (resources/demo/dataset.json, format in its README.md).
class Dataset
{
public:
    // Built into l0l3_localstack as a Qt resource, so the demo needs no source tree.
    static QString builtinPath() { return QStringLiteral(":/l0l3/demo/dataset.json"); }

    // nullopt with a one-line reason naming the file and the JSON path.
    static std::optional<Dataset> load(const QString &path, QString *error = nullptr);
    static std::optional<Dataset> fromJson(const QByteArray &json, QString *error = nullptr);

    QString model() const { return m_model; }
    QString systemPrompt() const { return m_systemPrompt; }
    const QList<DatasetIntent> &intents() const { return m_intents; }
    int promptCount() const;

private:
    QString m_model;
    QString m_systemPrompt;
    QList<DatasetIntent> m_intents;
};

} // namespace l0l3
