#pragma once

#include <QHash>
#include <QImage>
#include <QString>

#include <algorithm>

namespace l0l3::test {

// Why a console screenshot looks blank, or an empty string when it does not:
// sampled every 4th pixel, it needs more than 50 distinct colours and no
// single colour covering 95 % of the window.
inline QString blankScreenshotProblem(const QImage &image)
{
    QHash<QRgb, int> colours;
    for (int y = 0; y < image.height(); y += 4)
        for (int x = 0; x < image.width(); x += 4)
            ++colours[image.pixel(x, y)];
    int dominant = 0;
    for (int n : std::as_const(colours))
        dominant = std::max(dominant, n);
    const int samples = (image.width() / 4) * (image.height() / 4);
    if (colours.size() <= 50)
        return QStringLiteral("%1 colours").arg(colours.size());
    if (dominant >= samples * 95 / 100)
        return QStringLiteral("one colour covers the whole window");
    return {};
}

} // namespace l0l3::test
