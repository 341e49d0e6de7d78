// Untrusted text through every view of the console: prompts, answers,
// namespaces, models, system prompts, region names, entries and audit records
// carrying HTML, an image, a link, bidi overrides, control characters and a
// 1 MB line are seeded into a real Redis (and a gateway's metrics labels), the
// console shows them, and what each widget renders is checked: no label,
// tooltip, message box, chart or text document interprets them, no single-line
// view passes a control or bidi character on raw, and nothing shown is
// unbounded. The image points at a small file here, not at /dev/zero, so a
// console that loads it fails the checks instead of exhausting the machine.
#include <QAbstractItemView>
#include <QApplication>
#include <QBarCategoryAxis>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDateTime>
#include <QGraphicsTextItem>
#include <QImage>
#include <QLabel>
#include <QLegend>
#include <QLegendMarker>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QSortFilterProxyModel>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextDocument>
#include <QTreeWidget>

#include <functional>
#include <memory>

#include "core/common/auditrecord.h"
#include "core/common/cachekey.h"
#include "core/common/entry.h"
#include "tests/control/controltestsupport.h"
#include "tests/support/fakemetricsendpoint.h"
#include "ui/audit/auditpage.h"
#include "ui/audit/audittablemodel.h"
#include "ui/common/formatting.h"
#include "ui/common/regionstatuscard.h"
#include "ui/common/responseeditordialog.h"
#include "ui/common/timeserieschart.h"
#include "ui/dashboard/dashboardpage.h"
#include "ui/entries/entriespage.h"
#include "ui/entries/entrytablemodel.h"
#include "ui/mainwindow.h"
#include "ui/proposals/proposaldetailpane.h"
#include "ui/proposals/proposalspage.h"
#include "ui/proposals/proposaltablemodel.h"
#include "ui/topology/topologypage.h"
#include "ui/workers/monitorconfig.h"

using namespace l0l3;
using namespace l0l3::test;

namespace {

// Longest text any single view may hold (the detail panes show 20000
// characters of a prompt or answer plus a note).
constexpr qsizetype kMaxShownChars = 50000;

const char16_t kRlo = 0x202E;

// A control, bidi or separator character a layout would act on.
bool isHazard(char16_t c, bool multiLine)
{
    if (multiLine && (c == u'\n' || c == u'\t'))
        return false;
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069)
        || c == 0x200E || c == 0x200F || c == 0x061C || c == 0x2028 || c == 0x2029;
}

QString hazardIn(const QString &text, bool multiLine = false)
{
    for (qsizetype i = 0; i < text.size(); ++i) {
        if (isHazard(text[i].unicode(), multiLine))
            return QStringLiteral("raw U+%1 at %2").arg(uint(text[i].unicode()), 4, 16, QLatin1Char('0')).arg(i);
    }
    return {};
}

QString where(const QObject *o)
{
    QStringList path;
    for (; o; o = o->parent())
        path.prepend(QString::fromLatin1(o->metaObject()->className()) + u'#' + o->objectName());
    return path.join(u'/');
}

} // namespace

class TestUntrustedText : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    // First: the checks below stop early on QTest::currentTestFailed(),
    // which a failed data row of an earlier function leaves set in Qt 6.4.
    void everyViewShowsPlainText();
    void helpersEscape_data();
    void helpersEscape();

private:
    QString hostile(const QString &tag) const;
    void seed();
    void openEveryView();
    // The generic checks, over every widget that exists.
    void checkLabels();
    void checkItemViews();
    void checkToolTips();
    void checkDocuments();
    void checkCharts();
    void checkWindowsAndStatus();
    void checkToolTipText(const QString &tip, const QString &what);
    void checkDocument(const QTextDocument *doc, const QString &what, bool editable);

    RedisServer m_primary;
    QTemporaryDir m_dir;
    QString m_probe; // the image the hostile <img> points at
    std::unique_ptr<FakeMetricsEndpoint> m_metrics;
    std::unique_ptr<MainWindow> m_window;
    QString m_proposalKey;
    QString m_entryKey;
    QString m_longAnswer;
    bool m_reached = false; // set at the end of seed() and openEveryView(): a failed QVERIFY returns before
};

// Every hostile form at once; tag tells the fields apart.
QString TestUntrustedText::hostile(const QString &tag) const
{
    return QStringLiteral("<b style=\"color:green;font-size:40px\">APPROVED BY SECURITY %1</b>"
                          "<img src=\"%2\"><a href=\"https://evil.example/\">open</a>"
                          " invoice%3gpj.exe%4 %5x%6 bell%7 esc%8[2J del%9")
               .arg(tag, m_probe, QString(QChar(kRlo)), QString(QChar(0x202C)), QString(QChar(0x2066)),
                    QString(QChar(0x2069)), QString(QChar(0x07)), QString(QChar(0x1B)), QString(QChar(0x7F)))
        + QStringLiteral(" c1") + QChar(0x9B) + QStringLiteral(" ls") + QChar(0x2028) + QStringLiteral("end");
}

void TestUntrustedText::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_probe = m_dir.filePath(QStringLiteral("probe.png"));
    QImage image(4, 4, QImage::Format_RGB32);
    image.fill(Qt::red);
    QVERIFY(image.save(m_probe));
    QString error;
    QVERIFY2(m_primary.start({}, &error), qPrintable(error));
    m_metrics = std::make_unique<FakeMetricsEndpoint>();
    QVERIFY(m_metrics->port() > 0);
}

void TestUntrustedText::cleanupTestCase()
{
    m_window.reset();
    m_metrics.reset();
    m_primary.stop();
}

void TestUntrustedText::helpersEscape_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("shown"); // what the tooltip shows, literally
    QTest::newRow("html") << QStringLiteral("<b>x</b><img src=\"/dev/zero\"><a href=\"x\">y</a>")
                          << QStringLiteral("<b>x</b><img src=\"/dev/zero\"><a href=\"x\">y</a>");
    QTest::newRow("bidi") << QString(QStringLiteral("a") + QChar(kRlo) + QStringLiteral("b") + QChar(0x2066)
                                     + QChar(0x200F))
                          << QStringLiteral("a\\u202Eb\\u2066\\u200F");
    QTest::newRow("controls") << QString(QStringLiteral("a\x1b[2Jb\x07 c") + QChar(0x7F) + QChar(0x85) + QChar(0x9B))
                              << QStringLiteral("a\\x1B[2Jb\\x07 c\\x7F\\u0085\\u009B");
    QTest::newRow("long line") << QString(1 << 20, u'x') << QString(999, u'x') + QChar(0x2026);
}

void TestUntrustedText::helpersEscape()
{
    QFETCH(QString, text);
    QFETCH(QString, shown);
    const QString one = Formatting::oneLine(text, 200);
    QVERIFY2(hazardIn(one).isEmpty(), qPrintable(hazardIn(one)));
    QVERIFY(one.size() <= 200);
    const QString multi = Formatting::multiLine(text, 200);
    QVERIFY2(hazardIn(multi, true).isEmpty(), qPrintable(hazardIn(multi, true)));
    QVERIFY(multi.size() <= 200);
    const QString tip = Formatting::toolTip(text);
    QVERIFY(tip.startsWith(QLatin1String("<qt>")));
    QVERIFY(!tip.contains(QLatin1String("<b>")) && !tip.contains(QLatin1String("<img"))
            && !tip.contains(QLatin1String("<a ")));
    QVERIFY2(hazardIn(tip).isEmpty(), qPrintable(hazardIn(tip)));
    QTextDocument doc;
    doc.setHtml(tip);
    checkDocument(&doc, QStringLiteral("tooltip"), false);
    QCOMPARE(doc.toPlainText(), shown);
}

void TestUntrustedText::seed()
{
    RedisClient client = m_primary.client();
    QVERIFY(client.isConnected());

    // A proposal as a gateway writes it; the answer carries a 1 MB line.
    Proposal p;
    p.ns = hostile(QStringLiteral("ns")).toStdString();
    p.system = hostile(QStringLiteral("system")).toStdString();
    p.prompt = QString(hostile(QStringLiteral("prompt")) + u' ' + QString(1 << 20, u'P')).toStdString();
    m_longAnswer = hostile(QStringLiteral("answer")) + u'\n' + QString(1 << 20, u'A');
    p.response = m_longAnswer.toStdString();
    p.model = hostile(QStringLiteral("model")).toStdString();
    p.region = hostile(QStringLiteral("region")).toStdString();
    p.key = CacheKey::derive({p.ns, p.system, p.prompt, p.model, "", "", ""});
    p.tsMs = QDateTime::currentMSecsSinceEpoch();
    p.upstreamMs = 900;
    m_proposalKey = QString::fromStdString(p.key);
    QVERIFY(!seedProposal(client, p, {{QString::fromStdString(p.region), 1000}}).isEmpty());

    // An approved entry whose every text field is hostile.
    Entry e;
    e.key = "hostile-" + hostile(QStringLiteral("key")).toStdString();
    e.prompt = QString(hostile(QStringLiteral("entry prompt")) + u' ' + QString(1 << 20, u'E')).toStdString();
    e.response = hostile(QStringLiteral("entry answer")).toStdString();
    e.system = p.system;
    e.ns = p.ns;
    e.model = p.model;
    e.intent = hostile(QStringLiteral("intent")).toStdString();
    e.approvedBy = hostile(QStringLiteral("approver")).toStdString();
    e.approvedAtMs = QDateTime::currentMSecsSinceEpoch();
    m_entryKey = QString::fromStdString(e.key);
    const RedisValue set = client.command({"SET", qb(RedisSchema::entryKey(e.key)), qb(EntryCodec::encode(e))});
    QVERIFY2(set.isStatus() || set.isString(), qPrintable(set.toString()));

    // An audit record, every field hostile.
    AuditRecord a;
    a.action = hostile(QStringLiteral("action")).toStdString();
    a.key = hostile(QStringLiteral("audit key")).toStdString();
    a.actor = hostile(QStringLiteral("actor")).toStdString();
    a.detail = QString(hostile(QStringLiteral("detail")) + u' ' + QString(1 << 20, u'D')).toStdString();
    a.tsMs = QDateTime::currentMSecsSinceEpoch();
    QList<QByteArray> argv{"XADD", qb(RedisSchema::kAudit), "*"};
    for (const auto &[f, v] : AuditCodec::encode(a)) {
        argv.append(qb(f));
        argv.append(qb(v));
    }
    const RedisValue id = client.command(argv);
    QVERIFY2(id.isString(), qPrintable(id.toString()));

    // A gateway whose metrics name a hostile region.
    QString region = hostile(QStringLiteral("metrics region"));
    region.replace(u'\\', QStringLiteral("\\\\"))
        .replace(u'"', QStringLiteral("\\\""))
        .replace(u'\n', QStringLiteral("\\n"));
    const QByteArray r = region.toUtf8();
    m_metrics->setBodyFunction([r](int n) -> QByteArray {
        const QByteArray c = QByteArray::number(n * 10);
        return "l0l3_requests_total{region=\"" + r + "\",tier=\"L0\",outcome=\"hit\"} " + c + "\n"
            + "l0l3_requests_total{region=\"" + r + "\",tier=\"miss\",outcome=\"miss\"} " + c + "\n"
            + "l0l3_request_duration_seconds_bucket{region=\"" + r + "\",tier=\"L0\",le=\"0.01\"} " + c + "\n"
            + "l0l3_request_duration_seconds_bucket{region=\"" + r + "\",tier=\"L0\",le=\"+Inf\"} " + c + "\n"
            + "l0l3_request_duration_seconds_count{region=\"" + r + "\",tier=\"L0\"} " + c + "\n"
            + "l0l3_degradation_state{region=\"" + r + "\",state=\"normal\"} 1\n";
    });
    m_reached = true;
}

void TestUntrustedText::openEveryView()
{
    m_window = std::make_unique<MainWindow>();
    auto options = RedisConnection::Options::fromUrl(m_primary.url(QStringLiteral("console")));
    QVERIFY(options);
    m_window->connectWith(*options, QStringLiteral("test primary"));
    MonitorConfig config;
    config.gateways.append({QString(), QUrl(QStringLiteral("http://127.0.0.1:%1").arg(m_metrics->port()))});
    m_window->setMonitoring(config);
    m_window->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));

    // Proposals: the hostile one is selected (the top one is, automatically).
    ProposalsPage *page = m_window->proposalsPage();
    QTRY_VERIFY_WITH_TIMEOUT(page->model()->rowOfKey(m_proposalKey) >= 0, 20000);
    page->selectKey(m_proposalKey);
    QTRY_COMPARE_WITH_TIMEOUT(page->currentItem().value_or(ProposalItem{}).key, m_proposalKey, 5000);

    // Entries and audit log.
    EntriesPage *entries = m_window->entriesPage();
    m_window->tabs()->setCurrentWidget(entries);
    QTRY_VERIFY_WITH_TIMEOUT(entries->model()->rowOfKey(m_entryKey) >= 0, 15000);
    QTableView *ev = entries->view();
    auto *entryProxy = qobject_cast<QSortFilterProxyModel *>(ev->model());
    QVERIFY(entryProxy);
    const QModelIndex entryIndex = entryProxy->mapFromSource(
        entries->model()->index(entries->model()->rowOfKey(m_entryKey), 0));
    QVERIFY(entryIndex.isValid());
    ev->setCurrentIndex(entryIndex);
    AuditPage *audit = m_window->auditPage();
    m_window->tabs()->setCurrentWidget(audit);
    auto *auditView = audit->findChild<QTableView *>(QStringLiteral("auditView"));
    QVERIFY(auditView);
    QTRY_VERIFY_WITH_TIMEOUT(auditView->model()->rowCount() > 0, 15000);

    // Dashboards and topology, fed by the gateway's metrics.
    m_window->tabs()->setCurrentWidget(m_window->dashboardPage());
    QTRY_VERIFY_WITH_TIMEOUT(!m_window->dashboardPage()->findChildren<RegionStatusCard *>().isEmpty(), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(!m_window->dashboardPage()->rpsChart()->chart()->series().isEmpty(), 10000);
    QTRY_VERIFY_WITH_TIMEOUT(m_window->dashboardPage()->tierSet(QStringLiteral("L0"))->count() > 0, 10000);
    m_window->tabs()->setCurrentWidget(m_window->topologyPage());
    auto *tree = m_window->topologyPage()->findChild<QTreeWidget *>(QStringLiteral("topologyTree"));
    QVERIFY(tree);
    QTRY_VERIFY_WITH_TIMEOUT(
        !tree->findItems(QStringLiteral("metrics region"), Qt::MatchContains | Qt::MatchRecursive).isEmpty(), 10000);

    // A replica under a hostile region name: drain and promotion confirmations name it.
    MonitorConfig withReplica = config;
    MonitorConfig::Replica replica;
    replica.region = hostile(QStringLiteral("replica region"));
    replica.options = *options;
    withReplica.replicas.append(replica);
    m_window->topologyPage()->setConfig(withReplica);
    auto *regionBox = m_window->topologyPage()->findChild<QComboBox *>();
    QVERIFY(regionBox);
    const int regionIndex = regionBox->findData(replica.region);
    regionBox->setCurrentIndex(regionIndex >= 0 ? regionIndex : regionBox->findText(replica.region));
    QVERIFY(regionBox->currentIndex() >= 0);
    m_window->topologyPage()->requestDrain(true);
    QList<QTreeWidgetItem *> replicaItems = tree->findItems(QStringLiteral("replica region"),
                                                            Qt::MatchContains | Qt::MatchRecursive);
    QVERIFY(!replicaItems.isEmpty());
    tree->setCurrentItem(replicaItems.first());
    m_window->topologyPage()->requestPromotion();

    // Message boxes and the editor with its diff.
    m_window->tabs()->setCurrentWidget(entries);
    // Select the entry again: a live update of the page since may have reset its selection.
    QTRY_VERIFY_WITH_TIMEOUT(entries->model()->rowOfKey(m_entryKey) >= 0, 15000);
    ev->setCurrentIndex(entryProxy->mapFromSource(entries->model()->index(entries->model()->rowOfKey(m_entryKey), 0)));
    entries->revokeCurrent();
    m_window->tabs()->setCurrentWidget(page);
    page->selectKey(m_proposalKey);
    page->editCurrent();
    QVERIFY(page->editor());
    auto *edit = page->editor()->findChild<QPlainTextEdit *>(QStringLiteral("responseEdit"));
    QVERIFY(edit);
    QCOMPARE(edit->toPlainText().size(), m_longAnswer.size()); // the editor holds the whole answer
    edit->setPlainText(hostile(QStringLiteral("edited")) + u'\n' + m_longAnswer.right(1000));
    auto *diff = page->editor()->findChild<QTextBrowser *>();
    QVERIFY(diff);
    QTRY_VERIFY_WITH_TIMEOUT(diff->toPlainText().contains(QLatin1String("edited</b>")), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(m_window->findChildren<QMessageBox *>().size() >= 3, 5000);
    emit page->statusMessage(hostile(QStringLiteral("status")), 0); // as a failed write does
    m_reached = true;
}

void TestUntrustedText::everyViewShowsPlainText()
{
    m_reached = false;
    seed();
    if (!m_reached)
        return;
    m_reached = false;
    openEveryView();
    if (!m_reached)
        return;
    QApplication::processEvents();

    // The hostile text is on screen (so the checks below are not vacuous), as text.
    ProposalDetailPane *detail = m_window->proposalsPage()->detailPane();
    bool contextShown = false;
    for (QLabel *l : detail->findChildren<QLabel *>())
        contextShown = contextShown || l->text().contains(QLatin1String("namespace <b style="));
    QVERIFY(contextShown);
    RegionStatusCard *card = m_window->dashboardPage()->findChildren<RegionStatusCard *>().value(0);
    bool titleShown = false;
    for (QLabel *l : card->findChildren<QLabel *>())
        titleShown = titleShown || l->text().startsWith(QLatin1String("<b style="));
    QVERIFY(titleShown);

    checkLabels();
    checkItemViews();
    checkToolTips();
    checkDocuments();
    checkCharts();
    checkWindowsAndStatus();
}

// Every QLabel, including ones added later: data is plain text (or text that
// cannot be taken as HTML), no control or bidi character raw, bounded.
void TestUntrustedText::checkLabels()
{
    int labels = 0;
    for (QWidget *w : QApplication::allWidgets()) {
        auto *label = qobject_cast<QLabel *>(w);
        if (!label)
            continue;
        ++labels;
        const QString text = label->text();
        const bool rich = label->textFormat() == Qt::RichText
            || (label->textFormat() == Qt::AutoText && Qt::mightBeRichText(text));
        const bool data = text.contains(QLatin1String("APPROVED BY SECURITY")) || text.contains(QLatin1String("<img"))
            || text.contains(QLatin1String("<a href"));
        QVERIFY2(!(rich && data),
                 qPrintable(where(label) + QStringLiteral(": rich text with data: ") + text.left(200)));
        QVERIFY2(hazardIn(text, true).isEmpty(), qPrintable(where(label) + u' ' + hazardIn(text, true)));
        QVERIFY2(text.size() <= kMaxShownChars,
                 qPrintable(where(label) + QStringLiteral(": %1 chars").arg(text.size())));
        if (data)
            QCOMPARE(label->textFormat(), Qt::PlainText);
        if (!label->toolTip().isEmpty())
            checkToolTipText(label->toolTip(), where(label));
    }
    QVERIFY(labels > 20);
}

void TestUntrustedText::checkToolTipText(const QString &tip, const QString &what)
{
    if (Qt::mightBeRichText(tip)) {
        for (const char *raw : {"<b ", "<b>", "<img", "<a "})
            QVERIFY2(!tip.contains(QLatin1String(raw)),
                     qPrintable(what + QStringLiteral(": tooltip renders ") + tip.left(300)));
        QTextDocument doc;
        doc.setHtml(tip);
        checkDocument(&doc, what + QStringLiteral(" (tooltip)"), false);
    }
    QVERIFY2(hazardIn(tip, true).isEmpty(), qPrintable(what + QStringLiteral(": tooltip ") + hazardIn(tip, true)));
    QVERIFY2(tip.size() <= 10000, qPrintable(what + QStringLiteral(": tooltip of %1 chars").arg(tip.size())));
}

// Every cell and tooltip of every model on screen (tables, the topology tree,
// combo boxes), down to the third level.
void TestUntrustedText::checkItemViews()
{
    int cells = 0;
    bool tooltipSeen = false;
    std::function<void(const QAbstractItemModel *, const QModelIndex &, int, const QString &)> walk;
    walk = [&](const QAbstractItemModel *model, const QModelIndex &parent, int depth, const QString &what) {
        const int rows = std::min(model->rowCount(parent), 500);
        for (int r = 0; r < rows; ++r) {
            for (int c = 0; c < model->columnCount(parent); ++c) {
                const QModelIndex idx = model->index(r, c, parent);
                const QString display = idx.data(Qt::DisplayRole).toString();
                ++cells;
                QVERIFY2(hazardIn(display).isEmpty(),
                         qPrintable(what + QStringLiteral(" [%1,%2] ").arg(r).arg(c) + hazardIn(display)));
                QVERIFY2(display.size() <= 2000,
                         qPrintable(what + QStringLiteral(" [%1,%2]: %3 chars").arg(r).arg(c).arg(display.size())));
                const QString tip = idx.data(Qt::ToolTipRole).toString();
                if (!tip.isEmpty()) {
                    checkToolTipText(tip, what + QStringLiteral(" [%1,%2]").arg(r).arg(c));
                    if (QTest::currentTestFailed())
                        return;
                    tooltipSeen = tooltipSeen || tip.contains(QLatin1String("APPROVED BY SECURITY"));
                }
                if (c == 0 && depth < 3 && model->hasChildren(idx))
                    walk(model, idx, depth + 1, what);
                if (QTest::currentTestFailed())
                    return;
            }
        }
    };
    for (QWidget *w : QApplication::allWidgets()) {
        if (auto *view = qobject_cast<QAbstractItemView *>(w); view && view->model())
            walk(view->model(), {}, 0, where(view));
        if (QTest::currentTestFailed())
            return;
    }
    QVERIFY(cells > 50);
    QVERIFY(tooltipSeen);
}

void TestUntrustedText::checkToolTips()
{
    for (QWidget *w : QApplication::allWidgets()) {
        if (!w->toolTip().isEmpty())
            checkToolTipText(w->toolTip(), where(w));
        if (QTest::currentTestFailed())
            return;
    }
}

// A document neither loads an image nor holds a link; a read-only one shows
// no control or bidi character raw and is bounded.
void TestUntrustedText::checkDocument(const QTextDocument *doc, const QString &what, bool editable)
{
    for (QTextBlock b = doc->begin(); b.isValid(); b = b.next()) {
        for (auto it = b.begin(); !it.atEnd(); ++it) {
            const QTextCharFormat f = it.fragment().charFormat();
            QVERIFY2(!f.isImageFormat(), qPrintable(what + QStringLiteral(": image ") + f.toImageFormat().name()));
            QVERIFY2(!f.isAnchor(), qPrintable(what + QStringLiteral(": link ") + f.anchorHref()));
        }
    }
    if (editable)
        return;
    const QString text = doc->toPlainText();
    QVERIFY2(hazardIn(text, true).isEmpty(), qPrintable(what + u' ' + hazardIn(text, true)));
    QVERIFY2(text.size() <= kMaxShownChars, qPrintable(what + QStringLiteral(": %1 chars").arg(text.size())));
}

void TestUntrustedText::checkDocuments()
{
    int docs = 0;
    for (QWidget *w : QApplication::allWidgets()) {
        if (auto *pe = qobject_cast<QPlainTextEdit *>(w)) {
            ++docs;
            checkDocument(pe->document(), where(pe), !pe->isReadOnly());
        } else if (auto *te = qobject_cast<QTextEdit *>(w)) {
            ++docs;
            checkDocument(te->document(), where(te), !te->isReadOnly());
        }
        if (QTest::currentTestFailed())
            return;
    }
    QVERIFY(docs >= 4); // detail prompt and answer, entry detail, editor, diff
}

// Qt Charts renders titles, legends and category labels as HTML.
void TestUntrustedText::checkCharts()
{
    int labels = 0;
    for (QWidget *w : QApplication::allWidgets()) {
        auto *view = qobject_cast<QChartView *>(w);
        if (!view || !view->chart())
            continue;
        QChart *chart = view->chart();
        QStringList shown{chart->title()};
        for (QLegendMarker *m : chart->legend()->markers())
            shown.append(m->label());
        for (QAbstractAxis *axis : chart->axes()) {
            shown.append(axis->titleText());
            if (auto *categories = qobject_cast<QBarCategoryAxis *>(axis))
                shown.append(categories->categories());
        }
        for (const QString &s : std::as_const(shown)) {
            ++labels;
            for (const char *raw : {"<b ", "<b>", "<img", "<a "})
                QVERIFY2(!s.contains(QLatin1String(raw)),
                         qPrintable(where(view) + QStringLiteral(": renders ") + s.left(200)));
            QVERIFY2(hazardIn(s).isEmpty(), qPrintable(where(view) + u' ' + hazardIn(s)));
        }
        for (QGraphicsItem *item : view->scene()->items()) {
            if (auto *text = dynamic_cast<QGraphicsTextItem *>(item))
                checkDocument(text->document(), where(view) + QStringLiteral(" (scene text)"), true);
            if (QTest::currentTestFailed())
                return;
        }
    }
    QVERIFY(labels > 5);
}

void TestUntrustedText::checkWindowsAndStatus()
{
    for (QWidget *w : QApplication::topLevelWidgets()) {
        const QString title = w->windowTitle();
        QVERIFY2(hazardIn(title).isEmpty(), qPrintable(where(w) + QStringLiteral(" title ") + hazardIn(title)));
        QVERIFY2(title.size() <= 200, qPrintable(where(w) + QStringLiteral(" title of %1 chars").arg(title.size())));
    }
    const QString status = m_window->statusBar()->currentMessage();
    QVERIFY(status.contains(QLatin1String("APPROVED BY SECURITY status")));
    QVERIFY2(hazardIn(status).isEmpty(), qPrintable(QStringLiteral("status bar ") + hazardIn(status)));
}

QTEST_MAIN(TestUntrustedText)
#include "tst_untrustedtext.moc"
