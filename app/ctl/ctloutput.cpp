#include "app/ctl/ctloutput.h"

#include <cstdio>
#include <string_view>

#include "core/common/visibletext.h"

namespace l0l3 {

QString CtlOutput::visible(const QString &s)
{
    const QByteArray b = s.toUtf8();
    return QString::fromStdString(VisibleText::escape(std::string_view(b.constData(), size_t(b.size()))));
}

void CtlOutput::write(const QString &s)
{
    const QByteArray b = s.toUtf8();
    std::fwrite(b.constData(), 1, size_t(b.size()), stdout);
    std::fflush(stdout);
}

} // namespace l0l3
