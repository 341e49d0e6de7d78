#include "app/ctl/vectorscommand.h"

#include <cstdio>

#include "core/common/visibletext.h"
#include "core/control/vectorrebuild.h"

namespace l0l3 {

VectorsCommand::VectorsCommand(RedisConnection *connection, const Options &options, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
    , m_options(options)
{
}

void VectorsCommand::start()
{
    auto *rebuild = new VectorRebuild(m_connection, {m_options.embeddings, m_options.missingOnly}, this);
    connect(rebuild, &VectorRebuild::progress, this, [](const VectorRebuild::Counts &c) {
        std::fprintf(stderr, "l0l3-ctl: vectors: %lld entries read, %lld vectors written\n",
                     static_cast<long long>(c.entries), static_cast<long long>(c.written));
        std::fflush(stderr);
    });
    connect(rebuild, &VectorRebuild::finished, this,
            [this](bool ok, const QString &message, const VectorRebuild::Counts &) {
                if (!ok) {
                    emit done(1, QStringLiteral("l0l3-ctl: vectors rebuild failed: %1").arg(message));
                    return;
                }
                const QByteArray b = message.toUtf8();
                const std::string line = VisibleText::escape(std::string_view(b.constData(), std::size_t(b.size())));
                std::fprintf(stdout, "%s\n", line.c_str());
                std::fflush(stdout);
                emit done(0, {});
            });
    rebuild->start();
}

} // namespace l0l3
