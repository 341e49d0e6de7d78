#include <QPlainTextEdit>
#include <QTest>

#include "ui/common/responseeditordialog.h"
#include "ui/common/textdiff.h"

using namespace l0l3;
using Op = TextDiff::Op;

Q_DECLARE_METATYPE(QList<l0l3::TextDiff::Segment>)

class TestTextDiff : public QObject
{
    Q_OBJECT
private slots:
    // An answer holding characters the editor stores as its own line breaks
    // comes back byte for byte when the operator does not touch it.
    void untouchedEditorKeepsTheAnswer_data()
    {
        QTest::addColumn<QString>("answer");
        QTest::newRow("line separator") << QStringLiteral("one\u2028two");
        QTest::newRow("paragraph separator") << QStringLiteral("one\u2029two");
        QTest::newRow("carriage return") << QStringLiteral("one\r\ntwo");
        QTest::newRow("plain") << QStringLiteral("one\ntwo");
    }
    void untouchedEditorKeepsTheAnswer()
    {
        QFETCH(QString, answer);
        ResponseEditorDialog dialog(answer, QStringLiteral("Approve"));
        QCOMPARE(dialog.response(), answer);
        QVERIFY(!dialog.isChanged());
        auto *edit = dialog.findChild<QPlainTextEdit *>(QStringLiteral("responseEdit"));
        QVERIFY(edit);
        edit->setPlainText(QStringLiteral("edited"));
        QCOMPARE(dialog.response(), QStringLiteral("edited"));
        QVERIFY(dialog.isChanged());
    }
    void compute_data()
    {
        QTest::addColumn<QString>("before");
        QTest::addColumn<QString>("after");
        QTest::addColumn<QList<TextDiff::Segment>>("expected");
        QTest::newRow("same") << QStringLiteral("a b") << QStringLiteral("a b")
                              << QList<TextDiff::Segment>{{Op::Equal, QStringLiteral("a b")}};
        QTest::newRow("both empty") << QString() << QString() << QList<TextDiff::Segment>{};
        QTest::newRow("word replaced") << QStringLiteral("reset your password now")
                                       << QStringLiteral("reset your passphrase now")
                                       << QList<TextDiff::Segment>{{Op::Equal, QStringLiteral("reset your ")},
                                                                   {Op::Delete, QStringLiteral("password")},
                                                                   {Op::Insert, QStringLiteral("passphrase")},
                                                                   {Op::Equal, QStringLiteral(" now")}};
        QTest::newRow("appended") << QStringLiteral("Hello") << QStringLiteral("Hello there")
                                  << QList<TextDiff::Segment>{{Op::Equal, QStringLiteral("Hello")},
                                                              {Op::Insert, QStringLiteral(" there")}};
        QTest::newRow("from empty") << QString() << QStringLiteral("new")
                                    << QList<TextDiff::Segment>{{Op::Insert, QStringLiteral("new")}};
        QTest::newRow("to empty") << QStringLiteral("old text") << QString()
                                  << QList<TextDiff::Segment>{{Op::Delete, QStringLiteral("old text")}};
    }
    void compute()
    {
        QFETCH(QString, before);
        QFETCH(QString, after);
        QFETCH(QList<TextDiff::Segment>, expected);
        QCOMPARE(TextDiff::compute(before, after), expected);
    }

    // Whatever the path (word or line fallback), applying the diff gives both texts back.
    void reconstructs_data()
    {
        QTest::addColumn<QString>("before");
        QTest::addColumn<QString>("after");
        QTest::addColumn<int>("maxTokens");
        QTest::newRow("words") << QStringLiteral("To reset it, open Settings › Account.\nThen pick Reset.")
                               << QStringLiteral("To reset it, open Settings › Security.\nThen press Reset now.")
                               << 3000;
        QTest::newRow("line fallback") << QStringLiteral("one\ntwo\nthree\n") << QStringLiteral("one\n2\nthree\nfour")
                                       << 2;
        QTest::newRow("opaque fallback") << QStringLiteral("a b c d") << QStringLiteral("a x c") << 0;
    }
    void reconstructs()
    {
        QFETCH(QString, before);
        QFETCH(QString, after);
        QFETCH(int, maxTokens);
        QString a;
        QString b;
        for (const TextDiff::Segment &s : TextDiff::compute(before, after, maxTokens)) {
            if (s.op != Op::Insert)
                a += s.text;
            if (s.op != Op::Delete)
                b += s.text;
        }
        QCOMPARE(a, before);
        QCOMPARE(b, after);
    }

    void htmlEscapesAndMarks()
    {
        const QString html = TextDiff::toHtml(
            TextDiff::compute(QStringLiteral("<b>x</b>"), QStringLiteral("<b>y</b>")));
        QVERIFY(!html.contains(QStringLiteral("<b>x")));
        QVERIFY(html.contains(QStringLiteral("&lt;b&gt;")));
        QVERIFY(html.contains(QStringLiteral("line-through")));
        QVERIFY(html.contains(QStringLiteral("underline")));
        QCOMPARE(TextDiff::summary(TextDiff::compute(QStringLiteral("a b"), QStringLiteral("a c d"))),
                 QStringLiteral("+2 / −1 words"));
    }
};

QTEST_MAIN(TestTextDiff)
#include "tst_textdiff.moc"
