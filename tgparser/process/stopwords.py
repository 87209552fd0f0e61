"""Stop words per language: function words that say which language a text is in (language
detection) and that carry no topic (keywords). Lower case."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "ru": _words(
        """а без более больше будет будто будут бы был была были было быть в вам вас вдруг ведь
        весь во вообще вот впрочем все всегда всего всех всю всё вы где где-то да даже два
        для до другой его ее ей ему если есть еще ещё её ж же за зачем здесь здравствуйте и
        из или им именно иногда их к как какая какой когда конечно которая которой которые
        который которых кто куда ли лучше между меня мне много может можно мой моя мы на над
        надо наконец нас не него нее ней нельзя нет неё ни нибудь никогда ним них ничего но
        ну о об один однако он она они опять от очень перед по под пожалуйста после потом
        потому почти поэтому при привет про просто раз разве с сам своей своих свой свою
        себе себя сегодня сейчас со совсем спасибо так также такой там тебя тем теперь то
        тогда того тоже только том тот три тут ты у уж уже хорошо хоть чего чем через что
        чтоб чтобы чуть эти этих это этого этой этом этот эту я является"""
    ),
    "uk": _words(
        """а або адже але ані без бо був буде будуть будь була були було бути більше в вам вас
        весь вже ви вона вони воно все вся всі від він вітаю де для до добре добрий дуже
        дякую ж же з за зараз зі й його кожен коли котрий ласка лише мають має менше мені ми
        можна між на навіть над нам нас не нею ним них ні однак ось отже перед по при про
        проте під після своя своє свої свій собі сьогодні та так також там те теж ти тобто
        тобі той тому треба тут ті тільки у усе усі хоча це цей ця ці через чи ще що щоб я
        як яка яке який якщо які є і із інша інший інші їм їх її"""
    ),
    "en": _words(
        """a about above after again against all also am an and any are at be been before being
        below between both but by can could did do does doing don down during each else few
        for from further get got had has have having he her here him his how i if in into is
        it its just me more most my myself new no nor not now of off on once one only or
        other our ours out over own please same she should so some such than thank thanks
        that the their them then there these they this those through to too under up very
        via was we were what when where which who whom why will with would you your"""
    ),
    "de": _words(
        """als an auch auf aus bei bis das dass daß dem den der des die diese diesem dieser
        dieses doch durch ein eine einem einen einer er es für haben hat ich ihr im ist kann
        man mehr mit nach nicht noch nur oder schon sein sich sie sind um und unter von vor
        war wenn werden wie wir wird zu zum zur über"""
    ),
    "es": _words(
        """al algo algunas algunos ante antes como con contra cual cuando de del desde donde
        durante e el ella ellos en entre es esa ese eso esta estar estas este esto estos
        está hasta hay la las le les lo los me mucho muchos muy más mí nada ni no nos
        nosotros o otra otras otro otros para pero poco por porque que quien quienes qué se
        sin sobre son sus sí también tanto todo todos un una uno unos y ya yo él"""
    ),
    "it": _words(
        """agli ai al alla anche ancora che come con cui da dal dalla dei del della delle di
        dove e ed essere fra già gli ha hanno i il in la le lo ma molto nel nella non o per
        perché più quando quella quello questa questi questo se sempre si sono stata stato
        su sul sulla tra tutti tutto un una uno è"""
    ),
    "tr": _words(
        """ama ancak ayrıca ben bir biz bu bunu da daha de değil diye en gibi göre hem her ile
        ise için içinde kadar ki mi mu mü mı nasıl ne neden o olan olarak onlar sen siz
        sonra var ve veya ya yani yok çok çünkü üzerinde şey şu"""
    ),
    "fr": _words(
        """au aussi aux avec ce ces cette comme dans de des du elle en est et il ils je la le
        les leur mais ne nous ou où par pas plus pour que qui sa se ses son sont sur tout un
        une vous été être"""
    ),
    "pt": _words(
        """a ao as com como da das de do dos e ela ele em entre está foi isso já mais mas muito
        na nas no nos não o os para por quando que se sem seu sua são também um uma é"""
    ),
    "fa": _words(
        """آن آنها از است اما او اگر این با باید بر برای به بود تا خود دارد در را شد شما شود ما
        من می نه نیز ها های هر هم و پس چه کرد کند که یا یک"""
    ),
    "ar": _words(
        """أن أو أي إلى إن التي الذي الى ان او بعد بين تلك ثم حتى ذلك على عن عند في قبل قد كان
        كل كما لا لم لن ما مع من هذا هذه هناك هو هي و"""
    ),
}
