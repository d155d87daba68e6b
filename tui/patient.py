"""What the patient reads on the PIN screen, in the patient's language (staff screens stay
Japanese). The patient picks the language with ＋ on the numeric pad and larger text with －;
each new card starts again in Japanese."""

from __future__ import annotations

LANGUAGES = ("ja", "en", "zh", "ko", "vi", "pt")
LANGUAGE_NAMES = {"ja": "日本語", "en": "English", "zh": "中文", "ko": "한국어", "vi": "Tiếng Việt", "pt": "Português"}

TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "prompt": "暗証番号（数字4桁）を入力してください",
        "reading": "カードを読み取っています",
        "tries": "残り{n}回",
        "locked": "ロック中",
        "locked_prompt": "このカードの暗証番号はロックされています",
        "locked_message": "ロックの解除は市区町村の窓口でできます。職員にお声がけください",
        "wrong": "暗証番号が違います（残り{n}回）",
        "last_try": "残り1回です。間違えるとロックされます。不安なときは職員にお声がけください",
        "checking": "確認しています",
        "ask_staff": "職員にお声がけください",
        "card_error": "カードを読み取れませんでした。職員にお声がけください",
        "no_answer": "カードが応答しません。カードを置き直すか、職員にお声がけください",
        "pin_format": "暗証番号は4桁の数字です。もう一度入力してください",
        "larger": "文字を大きく",
    },
    "en": {
        "prompt": "Please enter your PIN (4 digits)",
        "reading": "Reading the card",
        "tries": "Tries left: {n}",
        "locked": "Locked",
        "locked_prompt": "The PIN of this card is locked",
        "locked_message": "Your city office can unlock it. Please ask the staff",
        "wrong": "Wrong PIN (tries left: {n})",
        "last_try": "1 try left: a wrong PIN locks the card. If unsure, please ask the staff",
        "checking": "Checking",
        "ask_staff": "Please ask the staff",
        "card_error": "The card could not be read. Please ask the staff",
        "no_answer": "The card does not answer. Place it again or ask the staff",
        "pin_format": "The PIN is 4 digits. Please enter it again",
        "larger": "Larger text",
    },
    "zh": {
        "prompt": "请输入密码（4位数字）",
        "reading": "正在读取卡片",
        "tries": "剩余{n}次",
        "locked": "已锁定",
        "locked_prompt": "此卡的密码已被锁定",
        "locked_message": "可在市区町村窗口解除锁定。请联系工作人员",
        "wrong": "密码错误（剩余{n}次）",
        "last_try": "仅剩1次：输错将锁定卡片。如不确定，请联系工作人员",
        "checking": "正在确认",
        "ask_staff": "请联系工作人员",
        "card_error": "无法读取卡片。请联系工作人员",
        "no_answer": "卡片无响应。请重新放置卡片或联系工作人员",
        "pin_format": "密码为4位数字。请重新输入",
        "larger": "放大文字",
    },
    "ko": {
        "prompt": "비밀번호(숫자 4자리)를 입력해 주세요",
        "reading": "카드를 읽고 있습니다",
        "tries": "남은 횟수 {n}회",
        "locked": "잠김",
        "locked_prompt": "이 카드의 비밀번호가 잠겼습니다",
        "locked_message": "시구정촌 창구에서 잠금을 해제할 수 있습니다. 직원에게 말씀해 주세요",
        "wrong": "비밀번호가 틀렸습니다(남은 횟수 {n}회)",
        "last_try": "남은 횟수 1회: 틀리면 카드가 잠깁니다. 잘 모르시면 직원에게 말씀해 주세요",
        "checking": "확인 중입니다",
        "ask_staff": "직원에게 말씀해 주세요",
        "card_error": "카드를 읽을 수 없습니다. 직원에게 말씀해 주세요",
        "no_answer": "카드가 응답하지 않습니다. 다시 올려 놓거나 직원에게 말씀해 주세요",
        "pin_format": "비밀번호는 숫자 4자리입니다. 다시 입력해 주세요",
        "larger": "글자 크게",
    },
    "vi": {
        "prompt": "Vui lòng nhập mã PIN (4 chữ số)",
        "reading": "Đang đọc thẻ",
        "tries": "Còn {n} lần",
        "locked": "Đã khóa",
        "locked_prompt": "Mã PIN của thẻ này đã bị khóa",
        "locked_message": "Có thể mở khóa tại ủy ban thành phố. Vui lòng hỏi nhân viên",
        "wrong": "Sai mã PIN (còn {n} lần)",
        "last_try": "Còn 1 lần: nhập sai sẽ khóa thẻ. Nếu không chắc, vui lòng hỏi nhân viên",
        "checking": "Đang xác nhận",
        "ask_staff": "Vui lòng hỏi nhân viên",
        "card_error": "Không đọc được thẻ. Vui lòng hỏi nhân viên",
        "no_answer": "Thẻ không phản hồi. Hãy đặt lại thẻ hoặc hỏi nhân viên",
        "pin_format": "Mã PIN gồm 4 chữ số. Vui lòng nhập lại",
        "larger": "Chữ lớn",
    },
    "pt": {
        "prompt": "Digite a sua senha (4 dígitos)",
        "reading": "Lendo o cartão",
        "tries": "Tentativas restantes: {n}",
        "locked": "Bloqueado",
        "locked_prompt": "A senha deste cartão está bloqueada",
        "locked_message": "A prefeitura pode desbloqueá-la. Por favor, fale com um funcionário",
        "wrong": "Senha incorreta (tentativas restantes: {n})",
        "last_try": "Resta 1 tentativa: uma senha errada bloqueia o cartão. Em caso de dúvida, fale com um funcionário",
        "checking": "Verificando",
        "ask_staff": "Por favor, fale com um funcionário",
        "card_error": "Não foi possível ler o cartão. Por favor, fale com um funcionário",
        "no_answer": "O cartão não responde. Coloque-o de novo ou fale com um funcionário",
        "pin_format": "A senha tem 4 dígitos. Digite de novo",
        "larger": "Letras maiores",
    },
}


def text(language: str, key: str, **values: object) -> str:
    return TEXT[language][key].format(**values)


def next_language(language: str) -> str:
    return LANGUAGES[(LANGUAGES.index(language) + 1) % len(LANGUAGES)]
