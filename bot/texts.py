"""Every word the bot says, in one place, so the wording can be reviewed together.

Chinese first, with short English where a newcomer needs it. Strings that go out in HTML
parse mode are HTML already; the `{…}` slots are filled with escaped user text by the caller.
"""

BOT_NAME = "吟诗 · yinshi"

START = (
    "<b>吟诗</b>：我写合乎格律的古典诗词。\n"
    "发一个题目，我就写一首七绝；也可以直接说「来一首写秋天的五律」「用如梦令写春愁」"
    "「帮我写藏头诗：万事如意」，写完说「再来一首」「改成五律」「这首的格律」；"
    "贴一首诗，我看它的格律。\n\n"
    "/poem 春江 — 以「春江」为题作七绝\n"
    "/poem 春江 五律 — 指定体裁（五绝 七绝 五律 七律 或词牌）\n"
    "/acrostic 春江花月 — 藏头诗\n"
    "/continue 白日依山尽 — 从第一句续写\n"
    "/analyze 诗句 — 格律分析（或回复一条诗使用）\n"
    "/card — 把一首诗做成竖排诗笺图片（回复那首诗；加「格律」标平仄）\n"
    "/daily on 08:00 — 每天一首应时的诗\n"
    "/forms — 支持的体裁与词牌\n\n"
    "<i>I write classical Chinese poems that keep the rules of tone and rhyme. "
    "Send a topic, or try the buttons below.</i>"
)

EXAMPLES_TITLE = "试试这些："

COMMANDS = {
    "poem": "作诗：/poem 题目 [体裁]",
    "acrostic": "藏头诗：/acrostic 春江花月 [体裁]",
    "continue": "续写：/continue 白日依山尽",
    "analyze": "格律分析：/analyze 诗句",
    "forms": "支持的体裁与词牌",
    "card": "诗笺（图片）：用 /card 回复一首诗",
    "daily": "每日一诗：/daily on|off [HH:MM] [时区] [体裁]",
    "help": "帮助 / help",
}
"""Shown in Telegram's command menu (setMyCommands)."""

# --- while writing -------------------------------------------------------------------------

WRITING = "✍️ 正在以「{topic}」为题作{form}……"
WRITING_ACROSTIC = "✍️ 正在写藏头{form}「{heads}」……"
WRITING_CONTINUE = "✍️ 正在续写「{first_line}」……"

# --- poem messages -------------------------------------------------------------------------

BUTTON_AGAIN = "🔄 换一首"
BUTTON_ANALYZE = "📜 格律"
BUTTON_ACROSTIC = "✍️ 藏头"
ACROSTIC_HINT = (
    "藏头诗：发送 /acrostic 加上要藏的字，例如 /acrostic 春江花月（4 字七绝，8 字七律）。"
)
POEM_EXPIRED = "这首诗的记录已过期，请重新发送 /poem。"
NOT_CONFORMING = "（未能完全合律）"
RHYME = "韵：{group}"

# --- inline mode ---------------------------------------------------------------------------

INLINE_EMPTY = "输入题目，例如 春江"
INLINE_SLOW = "诗人正忙，点此私聊作诗"
INLINE_LIMITED = "写得太快啦，点此私聊"
INLINE_START_PARAMETER = "poem"

# --- analysis ------------------------------------------------------------------------------

ANALYSIS_TITLE = "<b>格律分析</b> · {form}"
ANALYSIS_SCHEME = {"pingshui": "平水韵", "xinyun": "中华新韵"}
ANALYSIS_OK = "✅ 合律"
ANALYSIS_VIOLATIONS = "⚠️ 出律 {count} 处："
ANALYSIS_MORE = "……另有 {count} 处"
ANALYSIS_LEGEND = "<i>○ 平　● 仄　⊙ 可平可仄（多音字）　? 韵书未收</i>"
ANALYZE_USAGE = "请在 /analyze 后写上诗句，或用 /analyze 回复一条诗。"

# --- input problems ------------------------------------------------------------------------

POEM_USAGE = "请在 /poem 后写上题目，例如 /poem 春江 或 /poem 春江 五律。"
ACROSTIC_USAGE = "请在 /acrostic 后写上要藏的字，例如 /acrostic 春江花月。"
CONTINUE_USAGE = "请在 /continue 后写上第一句，例如 /continue 白日依山尽。"
TOPIC_TOO_LONG = "题目太长了：最多 {limit} 个字。"
HEADS_BAD = "藏头须是 {low}–{high} 个汉字。"
HEADS_FORM_MISMATCH = (
    "{form}有 {lines} 句，藏头却有 {heads} 个字：请用 {low} 个字（七绝）或 {high} 个字（七律），"
    "或指定句数相同的词牌。"
)
FIRST_LINE_BAD = "第一句须是 5 或 7 个汉字（最多 {limit} 字）。"
FIRST_LINE_FORM_MISMATCH = "第一句是 {length} 字，与{form}的首句字数不合。"
TEXT_TOO_LONG = "太长了：最多 {limit} 个字。"
UNKNOWN_FORM = "不认识的体裁「{form}」。\n\n{forms}"
FORMS_LIST = "<b>支持的体裁</b>\n近体诗：{regular}\n\n<b>词牌</b>（{count} 个）：{tunes}"
EMPTY_TOPIC = "请给个题目。"

# --- chat in plain Chinese -----------------------------------------------------------------

UNDERSTOOD = "以「{topic}」为题，作{form}"
UNDERSTOOD_ACROSTIC = "藏头「{heads}」，作{form}"
UNDERSTOOD_CONTINUE = "续写「{first_line}」，成{form}"
UNDERSTOOD_XINYUN = "，押中华新韵"
CHAT_GREETING = (
    "你好！我是吟诗，写合乎格律的古典诗词。发个题目给我，比如「春江」，或说「来一首写秋天的五律」。"
)
CHAT_THANKS = "不客气。想再要一首，说「再来一首」；换个体裁，说「改成五律」。"
CHAT_WHO = (
    "我是吟诗：一个从唐宋诗词里学会作诗的小模型，写五绝、七绝、五律、七律和两百多个词牌，"
    "首首合乎平仄与韵。发个题目试试？"
)
CHAT_HINT = (
    "请用中文告诉我写什么，例如「春江」或「来一首写秋天的五律」。\n"
    "<i>Send a topic in Chinese, e.g. 春江, or 来一首写秋天的五律.</i>"
)
CHAT_NOT_CHINESE = (
    "题目须是汉字，例如「明月」。\n<i>The topic must be in Chinese characters, e.g. 明月.</i>"
)
CHAT_NO_HEADS = "藏头藏哪几个字呢？例如「藏头诗：春江花月」（4 字七绝，8 字七律）。"
CHAT_NO_TOPIC = "写什么呢？请给个题目，例如「写一首关于秋天的诗」。"
CHAT_MEDIA = (
    "我只读文字：发个题目，或贴一首诗让我看格律。\n"
    "<i>I only read text: send a topic, or paste a poem to check its rules.</i>"
)
CHAT_EDITED = "改过的消息我不再重写；请把新的要求重新发一条。"
NO_LAST_POEM = "这里还没有上一首：先发个题目吧，例如「春江」。"
BUTTON_SAME_FORM = "✍️ 照此体写一首"
SAME_FORM_PROMPT = "好，用{form}写。请发一个题目。"

# --- limits and failures -------------------------------------------------------------------

RATE_LIMITED = "写得太快啦：每分钟最多 {limit} 首，请稍候再来。"
ALREADY_WRITING = "上一首还在写，请稍候。"
BUSY = "正在排队的请求太多，请稍后再试。"
TIMEOUT = "这首写得太久了，诗人暂时没空，请稍后再试。"
WORKER_ERROR = "诗人出了点状况，没能写成，请稍后再试。"
POET_AWAY = "诗人暂时不在，请稍后再试。（格律分析 /analyze 仍可用。）"
INVALID_REQUEST = "这个要求写不了：{reason}"
UNEXPECTED = "出了点问题，请稍后再试。"

# --- daily ---------------------------------------------------------------------------------

DAILY_ON = "已订阅每日一诗：每天 {time}（{tz}），体裁{form}。\n下一首：{next}\n关闭：/daily off"
DAILY_OFF = "已取消每日一诗。"
DAILY_NONE = (
    "尚未订阅每日一诗。开启：/daily on [HH:MM] [时区] [体裁]，默认 08:00 Asia/Shanghai 七绝。"
)
DAILY_STATUS = "每日一诗：每天 {time}（{tz}），体裁{form}。\n下一首：{next}\n关闭：/daily off"
DAILY_USAGE = "用法：/daily on [HH:MM] [时区] [体裁] [诗笺]、/daily off 或 /daily。"
DAILY_AS_CARD = "，以诗笺图片发送"
DAILY_BAD_TIME = "时间须是 HH:MM，例如 08:00。"
DAILY_BAD_TZ = "不认识的时区「{tz}」，请用 Asia/Shanghai 这样的名称。"
DAILY_HEADER = "🌅 <b>每日一诗</b> · {date} · {occasion} · {form}"
DAILY_TODAY = "今日{label}"
"""A festival or a 节气 on its day: 「今日中秋 · 五律」; an ordinary day shows 「立夏时节」."""
DAILY_NEXT = "{date} {time}"
"""The next post, in the chat's zone: 2026-09-25 08:00."""
DAILY_NEXT_SOON = "即将发出"
ADMINS_ONLY = "在群组里，只有管理员能更改设置。"

# --- cards ---------------------------------------------------------------------------------

BUTTON_CARD = "🖼 诗笺"
CARD_MARKS_WORD = "格律"
"""`/card 格律`: the card with ○●⊙ beside each character."""
CARD_USAGE = (
    "请用 /card 回复我写的一首诗，或先让我写一首；加「格律」标出平仄：/card 格律\n"
    "<i>Reply /card to one of my poems for a picture card.</i>"
)
CARD_NO_FONT = (
    "诗笺需要中文字体，这台服务器还没有安装。请管理员运行：\n"
    "<code>sudo apt-get install fonts-lxgw-wenkai fonts-noto-cjk</code>\n"
    "然后重启机器人。\n"
    "<i>No CJK font is installed: the operator should install fonts-lxgw-wenkai and "
    "fonts-noto-cjk, then restart the bot.</i>"
)

# --- the command line ----------------------------------------------------------------------

NO_TOKEN = (
    "no Telegram bot token: set TELEGRAM_BOT_TOKEN (get one from @BotFather, "
    "https://t.me/BotFather)"
)
