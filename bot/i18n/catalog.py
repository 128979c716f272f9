"""Every user-facing text, in pt-BR (default) and en. One entry per key, both languages side by side.

Placeholders use `str.format` names; a test checks both languages use the same ones.
Texts that end up in Slack mrkdwn get their user-provided values escaped by the caller.
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    # --- usage and input errors -------------------------------------------------------------
    "help": {
        "pt-BR": (
            "*Como usar o AskCall*\n"
            "• `/askcall +55 11 98765-4321 Podemos te ligar para fechar o pedido?` pede ao cliente, "
            "pelo WhatsApp, permissão para ligar. O motivo é opcional.\n"
            "• O número vem primeiro, escrito como quiser (`11987654321`, `(11) 98765-4321`, "
            "`tel:+5511987654321`, `https://wa.me/5511987654321`). Ele vai até a primeira letra, vírgula ou "
            "quebra de linha: se o motivo começa com um número, separe com uma vírgula "
            "(`/askcall 11 98765-4321, 2 pedidos atrasados`).\n"
            "• `/askcall` sem texto abre um formulário.\n"
            "• A resposta do cliente aparece na conversa (thread) da mensagem que o AskCall publica no canal.\n"
            "O WhatsApp só permite 1 pedido a cada 24 h e 2 a cada 7 dias por cliente, e só enquanto a "
            "janela de atendimento de 24 h estiver aberta (o cliente falou com vocês nas últimas 24 h)."
        ),
        "en": (
            "*How to use AskCall*\n"
            "• `/askcall +55 11 98765-4321 May we call you to close the order?` asks the customer, "
            "over WhatsApp, for permission to call. The reason is optional.\n"
            "• The number comes first, written any way you like (`11987654321`, `(11) 98765-4321`, "
            "`tel:+5511987654321`, `https://wa.me/5511987654321`). It runs up to the first letter, comma or "
            "line break: if your reason starts with a number, put a comma after the phone "
            "(`/askcall 11 98765-4321, 2 late orders`).\n"
            "• `/askcall` with no text opens a form.\n"
            "• The customer's answer appears in the thread of the message AskCall posts in the channel.\n"
            "WhatsApp allows 1 request per 24 h and 2 per 7 days per customer, and only while the 24 h "
            "customer-service window is open (the customer messaged you in the last 24 h)."
        ),
    },
    "example": {
        "pt-BR": "Exemplo: `/askcall +55 11 98765-4321 Podemos te ligar para fechar o pedido?`",
        "en": "Example: `/askcall +55 11 98765-4321 May we call you to close the order?`",
    },
    "error.phone_missing": {
        "pt-BR": "Não encontrei um número de telefone. Comece com o número do cliente, com DDD.",
        "en": "I couldn't find a phone number. Start with the customer's number, including the area code.",
    },
    "error.phone_invalid": {
        "pt-BR": "`{raw}` não é um número de telefone válido. Confira o DDD e a quantidade de dígitos.",
        "en": "`{raw}` is not a valid phone number. Check the area code and the number of digits.",
    },
    "error.phone_invalid_command": {
        "pt-BR": (
            "Li `{raw}` como o número do cliente, e não é um número de telefone válido: nada foi enviado. "
            "Confira o DDD e a quantidade de dígitos. O número vai até a primeira letra, vírgula ou quebra de "
            "linha; se o motivo começa com um número, separe com uma vírgula: `/askcall 11 98765-4321, 2 pedidos`"
        ),
        "en": (
            "I read `{raw}` as the customer's number, and it is not a valid phone number: nothing was sent. "
            "Check the area code and the number of digits. The number runs up to the first letter, comma or line "
            "break; if your reason starts with a number, put a comma after the phone: "
            "`/askcall 11 98765-4321, 2 orders`"
        ),
    },
    "error.phone_not_mobile": {
        "pt-BR": "`{raw}` parece ser um telefone fixo. O WhatsApp precisa de um número de celular.",
        "en": "`{raw}` looks like a landline. WhatsApp needs a mobile number.",
    },
    "error.reason_too_long": {
        "pt-BR": "O motivo tem {length} caracteres; o WhatsApp aceita no máximo {limit}. Encurte o texto.",
        "en": "The reason is {length} characters long; WhatsApp accepts at most {limit}. Please shorten it.",
    },
    "error.internal": {
        "pt-BR": "Algo deu errado do nosso lado e nada foi enviado ao cliente. Tente de novo em instantes.",
        "en": "Something went wrong on our side and nothing was sent to the customer. Try again shortly.",
    },
    "error.unavailable": {
        "pt-BR": (
            "O AskCall está temporariamente indisponível (sem acesso ao banco de dados) e nada foi enviado ao "
            "cliente. Tente de novo em um minuto."
        ),
        "en": (
            "AskCall is temporarily unavailable (it can't reach its database) and nothing was sent to the "
            "customer. Try again in a minute."
        ),
    },
    "error.unverifiable": {
        "pt-BR": (
            "O AskCall reiniciou enquanto publicava seu pedido em <#{channel}> e o Slack não deixa conferir se a "
            "mensagem chegou, então não publiquei de novo nem enviei nada ao cliente. Se a mensagem não estiver "
            "no canal, tente de novo."
        ),
        "en": (
            "AskCall restarted while posting your request in <#{channel}>, and Slack doesn't let it check whether "
            "the message arrived, so I didn't post it again and sent nothing to the customer. If the message is not "
            "in the channel, try again."
        ),
    },
    "error.channel_unreachable": {
        "pt-BR": (
            "Não consigo publicar em <#{channel}>, então não enviei nada ao cliente. "
            "Convide o app para o canal (`/invite @askcall`) e tente de novo, ou use o AskCall em um canal "
            "em que ele já esteja."
        ),
        "en": (
            "I can't post in <#{channel}>, so nothing was sent to the customer. "
            "Invite the app to the channel (`/invite @askcall`) and try again, or use AskCall in a channel "
            "it is already in."
        ),
    },
    # --- modal ------------------------------------------------------------------------------
    "modal.title": {"pt-BR": "Pedir para ligar", "en": "Ask to call"},
    "modal.submit": {"pt-BR": "Enviar", "en": "Send"},
    "modal.close": {"pt-BR": "Cancelar", "en": "Cancel"},
    "modal.phone_label": {"pt-BR": "Celular do cliente", "en": "Customer's mobile"},
    "modal.phone_hint": {
        "pt-BR": "Com DDD. O +55 é opcional.",
        "en": "Include the area code. +55 is optional for Brazilian numbers.",
    },
    "modal.reason_label": {"pt-BR": "Motivo (o cliente vai ler)", "en": "Reason (the customer reads it)"},
    "modal.reason_placeholder": {
        "pt-BR": "Podemos te ligar para fechar o pedido?",
        "en": "May we call you to close the order?",
    },
    "modal.intro": {
        "pt-BR": "O AskCall pede ao cliente, pelo WhatsApp, permissão para ligar. A resposta chega no canal.",
        "en": "AskCall asks the customer, over WhatsApp, for permission to call. The answer arrives in the channel.",
    },
    # --- the request as the customer reads it -------------------------------------------------
    "reason.default": {
        "pt-BR": "Olá! Podemos te ligar pelo WhatsApp?",
        "en": "Hello! May we call you on WhatsApp?",
    },
    # --- parent message ---------------------------------------------------------------------
    "parent.headline": {
        "pt-BR": "<@{user}> pediu permissão para ligar para *{phone}*",
        "en": "<@{user}> asked for permission to call *{phone}*",
    },
    "parent.reason": {"pt-BR": "Motivo: {reason}", "en": "Reason: {reason}"},
    "parent.fallback": {
        "pt-BR": "Pedido de permissão para ligar para {phone}: {status}",
        "en": "Call permission request for {phone}: {status}",
    },
    "status.sending": {"pt-BR": "⏳ Enviando o pedido ao cliente…", "en": "⏳ Sending the request to the customer…"},
    "status.waiting": {"pt-BR": "⏳ Aguardando o cliente", "en": "⏳ Waiting for the customer"},
    "status.unconfirmed": {
        "pt-BR": "⏳ Aguardando o cliente (envio não confirmado)",
        "en": "⏳ Waiting for the customer (delivery not confirmed)",
    },
    "status.temporary": {
        "pt-BR": "✅ Pode ligar até {until}",
        "en": "✅ You may call until {until}",
    },
    "status.permanent": {"pt-BR": "♾️ Pode ligar (permissão permanente)", "en": "♾️ You may call (permanent)"},
    "status.denied": {"pt-BR": "❌ O cliente recusou", "en": "❌ The customer declined"},
    "status.failed": {"pt-BR": "❌ Não enviado", "en": "❌ Not sent"},
    # --- answers in the thread --------------------------------------------------------------
    "answer.temporary": {
        "pt-BR": "<@{user}> ✅ O cliente permitiu ligações por 7 dias. Pode ligar até {until}.",
        "en": "<@{user}> ✅ The customer allowed calls for 7 days. You may call until {until}.",
    },
    "answer.permanent": {
        "pt-BR": "<@{user}> ♾️ O cliente permitiu ligações sem prazo. Pode ligar quando quiser.",
        "en": "<@{user}> ♾️ The customer allowed calls with no time limit. You may call any time.",
    },
    "answer.denied": {
        "pt-BR": "<@{user}> ❌ O cliente recusou ligações. Não ligue; continue a conversa por mensagem.",
        "en": "<@{user}> ❌ The customer declined calls. Don't call; keep the conversation in messages.",
    },
    "answer.changed": {
        "pt-BR": "O cliente mudou a resposta.",
        "en": "The customer changed their answer.",
    },
    # --- why a request was not sent -------------------------------------------------------
    "failure.limit": {
        "pt-BR": (
            "<@{user}> ❌ Não enviado: o WhatsApp limita os pedidos de permissão a 1 a cada 24 h e 2 a cada "
            "7 dias para o mesmo cliente, e esse limite já foi atingido. Tente de novo depois, ou peça pela "
            "conversa que o cliente ligue para vocês."
        ),
        "en": (
            "<@{user}> ❌ Not sent: WhatsApp allows 1 permission request per 24 h and 2 per 7 days for the "
            "same customer, and that limit has been reached. Try again later, or ask the customer in the "
            "chat to call you."
        ),
    },
    "failure.window": {
        "pt-BR": (
            "<@{user}> ❌ Não enviado: o cliente não fala com vocês pelo WhatsApp há mais de 24 h, e o pedido "
            "só pode ser enviado dentro dessa janela. Peça que o cliente mande uma mensagem e tente de novo."
        ),
        "en": (
            "<@{user}> ❌ Not sent: the customer hasn't messaged you on WhatsApp in the last 24 h, and the "
            "request can only be sent inside that window. Ask the customer to send a message, then try again."
        ),
    },
    "failure.auth": {
        "pt-BR": (
            "<@{user}> ❌ Não enviado: a Pilot Status recusou a chave de API do AskCall. "
            "Avise quem administra o AskCall (PILOT_STATUS_API_KEY)."
        ),
        "en": (
            "<@{user}> ❌ Not sent: Pilot Status rejected AskCall's API key. "
            "Tell whoever runs AskCall (PILOT_STATUS_API_KEY)."
        ),
    },
    "failure.tenant_scope": {
        "pt-BR": (
            "<@{user}> ❌ Não enviado: a chave de API configurada é da conta, mas ligações exigem a chave do "
            "número de WhatsApp. Avise quem administra o AskCall."
        ),
        "en": (
            "<@{user}> ❌ Not sent: the configured API key is an account key, but calls need the WhatsApp "
            "number's own key. Tell whoever runs AskCall."
        ),
    },
    "failure.not_supported": {
        "pt-BR": (
            "<@{user}> ❌ Não enviado: o número de WhatsApp conectado não permite pedidos de ligação "
            "(é preciso um número da API oficial da Meta). Avise quem administra o AskCall."
        ),
        "en": (
            "<@{user}> ❌ Not sent: the connected WhatsApp number can't request call permission "
            "(a Meta Cloud API number is needed). Tell whoever runs AskCall."
        ),
    },
    "failure.rejected": {
        "pt-BR": "<@{user}> ❌ Não enviado: a Pilot Status recusou o pedido (`{code}`: {detail}).",
        "en": "<@{user}> ❌ Not sent: Pilot Status rejected the request (`{code}`: {detail}).",
    },
    "failure.unavailable": {
        "pt-BR": (
            "<@{user}> ❌ Não enviado: a Pilot Status está fora do ar ou sobrecarregada ({detail}) e "
            "continuou assim depois de {attempts} tentativas. Nada chegou ao cliente; tente de novo em alguns "
            "minutos."
        ),
        "en": (
            "<@{user}> ❌ Not sent: Pilot Status is down or overloaded ({detail}) and stayed that way after "
            "{attempts} attempts. Nothing reached the customer; try again in a few minutes."
        ),
    },
    "failure.busy": {
        "pt-BR": (
            "<@{user}> ❌ Não enviado: a Pilot Status está limitando os envios e pediu para esperar {seconds} s. "
            "Nada chegou ao cliente; tente de novo daqui a alguns minutos."
        ),
        "en": (
            "<@{user}> ❌ Not sent: Pilot Status is throttling requests and asked to wait {seconds} s. Nothing "
            "reached the customer; try again in a few minutes."
        ),
    },
    "failure.unconfirmed": {
        "pt-BR": (
            "<@{user}> ⚠️ A Pilot Status não confirmou o envio (sem resposta a tempo, ou um erro que pode ter vindo "
            "depois do envio), então não sei se o pedido chegou ao cliente. Para não gastar o limite do cliente, "
            "não vou reenviar. Se ele responder, a resposta aparece aqui."
        ),
        "en": (
            "<@{user}> ⚠️ Pilot Status didn't confirm the request (no answer in time, or an error that may have "
            "come after it went out), so I can't tell whether it reached the customer. To avoid spending the "
            "customer's limit, I won't resend it. If they answer, it will show up here."
        ),
    },
    "sent.probably": {
        "pt-BR": (
            "<@{user}> 📨 A Pilot Status respondeu com um erro, mas o limite de pedidos do cliente mostra que o "
            "envio foi contado: o pedido muito provavelmente chegou ao cliente. Não vou reenviar; a resposta "
            "dele aparece aqui."
        ),
        "en": (
            "<@{user}> 📨 Pilot Status answered with an error, but the customer's request limit shows the send was "
            "counted: the request most likely reached the customer. I won't resend it; their answer will show up "
            "here."
        ),
    },
    # --- pre-check before sending (issue: never burn a request needlessly) ---------------------
    "precheck.already_temporary": {
        "pt-BR": "<@{user}> ✅ Nada foi enviado: o cliente já permite ligações até {until}. Pode ligar.",
        "en": "<@{user}> ✅ Nothing was sent: the customer already allows calls until {until}. Go ahead and call.",
    },
    "precheck.already_permanent": {
        "pt-BR": "<@{user}> ♾️ Nada foi enviado: o cliente já permite ligações sem prazo. Pode ligar.",
        "en": "<@{user}> ♾️ Nothing was sent: the customer already allows calls with no time limit. Go ahead and call.",
    },
    "precheck.quota_until": {
        "pt-BR": (
            "<@{user}> ❌ Nada foi enviado: o limite do WhatsApp para pedidos a este cliente (1 a cada 24 h, "
            "2 a cada 7 dias) já foi usado. Você pode pedir de novo a partir de {when}."
        ),
        "en": (
            "<@{user}> ❌ Nothing was sent: WhatsApp's limit of requests to this customer (1 per 24 h, 2 per "
            "7 days) is used up. You can ask again from {when}."
        ),
    },
    "precheck.quota": {
        "pt-BR": (
            "<@{user}> ❌ Nada foi enviado: o WhatsApp não permite outro pedido a este cliente agora. O limite é "
            "de 1 pedido a cada 24 h e 2 a cada 7 dias, e só com a janela de atendimento de 24 h aberta (o "
            "cliente precisa ter mandado mensagem nas últimas 24 h). Tente de novo mais tarde."
        ),
        "en": (
            "<@{user}> ❌ Nothing was sent: WhatsApp doesn't allow another request to this customer right now. "
            "The limit is 1 request per 24 h and 2 per 7 days, and only while the 24 h customer-service window "
            "is open (the customer must have messaged you in the last 24 h). Try again later."
        ),
    },
    "precheck.open_elsewhere": {
        "pt-BR": (
            "Já existe um pedido aberto para {phone}, feito por <@{user}> em {when}. Nada foi enviado, para não "
            "gastar o limite do cliente; acompanhe a resposta <{link}|nesta conversa>."
        ),
        "en": (
            "There is already an open request for {phone}, made by <@{user}> on {when}. Nothing was sent, to "
            "spare the customer's limit; follow the answer <{link}|in this thread>."
        ),
    },
    "precheck.open_elsewhere_short": {
        "pt-BR": "Já existe um pedido aberto para este cliente. Nada foi enviado; acompanhe a resposta no canal.",
        "en": "There is already an open request for this customer. Nothing was sent; follow the answer in the channel.",
    },
    # --- /askcall status ------------------------------------------------------------------------
    "status.usage": {
        "pt-BR": "Para consultar sem enviar nada: `/askcall status +55 11 98765-4321`",
        "en": "To check without sending anything: `/askcall status +55 11 98765-4321`",
    },
    "status.report": {
        "pt-BR": "*{phone}*: {permission}\nPedidos de permissão disponíveis: {left_day} de {max_day} em 24 h, {left_week} de {max_week} em 7 dias.",
        "en": "*{phone}*: {permission}\nPermission requests available: {left_day} of {max_day} per 24 h, {left_week} of {max_week} per 7 days.",
    },
    "status.next_possible": {
        "pt-BR": "Próximo pedido possível a partir de {when}.",
        "en": "Next request possible from {when}.",
    },
    "status.cannot_request": {
        "pt-BR": "O WhatsApp não aceita um pedido de permissão agora.",
        "en": "WhatsApp won't accept a permission request right now.",
    },
    "status.unavailable": {
        "pt-BR": "Não consegui consultar a Pilot Status agora ({detail}). Nada foi enviado; tente de novo em instantes.",
        "en": "I couldn't reach Pilot Status just now ({detail}). Nothing was sent; try again shortly.",
    },
    "permission.none": {"pt-BR": "sem permissão para ligar", "en": "no permission to call"},
    "permission.temporary": {"pt-BR": "✅ pode ligar até {until}", "en": "✅ you may call until {until}"},
    "permission.permanent": {"pt-BR": "♾️ pode ligar (permanente)", "en": "♾️ you may call (permanent)"},
    "status.expired": {"pt-BR": "⌛ Permissão expirada", "en": "⌛ Permission expired"},
    "status.checked": {"pt-BR": "🔎 Verificado em {when}: {permission}", "en": "🔎 Checked on {when}: {permission}"},
    # --- buttons --------------------------------------------------------------------------------
    "button.check": {"pt-BR": "Verificar status", "en": "Check status"},
    "button.again": {"pt-BR": "Pedir novamente", "en": "Ask again"},
    "button.call": {"pt-BR": "📞 Ligar agora", "en": "📞 Call now"},
    "status.last_call": {"pt-BR": "Última ligação: {call}", "en": "Last call: {call}"},
    # --- calls from the browser ----------------------------------------------------------------
    "call.link": {
        "pt-BR": (
            "📞 Seu link para ligar para {phone}: <{url}|abrir a página de ligação>\n"
            "Só você pode usá-lo: vale uma vez, por 10 minutos. Não compartilhe."
        ),
        "en": (
            "📞 Your link to call {phone}: <{url}|open the call page>\n"
            "Only you can use it: once, within 10 minutes. Don't share it."
        ),
    },
    "call.no_public_url": {
        "pt-BR": (
            "📞 Ligar pelo navegador ainda não está configurado: peça ao administrador do AskCall para definir "
            "`ASKCALL_PUBLIC_URL` (o endereço https público do AskCall, o mesmo dos webhooks)."
        ),
        "en": (
            "📞 Calling from the browser isn't set up yet: ask your AskCall admin to set `ASKCALL_PUBLIC_URL` "
            "(AskCall's public https address, the same as for the webhooks)."
        ),
    },
    "call.not_callable": {
        "pt-BR": "A permissão deste cliente não vale mais: peça de novo antes de ligar.",
        "en": "This customer's permission no longer holds: ask again before calling.",
    },
    "call.in_progress": {"pt-BR": "📞 <@{user}> ligou — em andamento", "en": "📞 <@{user}> called — in progress"},
    "call.completed": {"pt-BR": "📞 <@{user}> ligou — {duration}", "en": "📞 <@{user}> called — {duration}"},
    "call.missed": {"pt-BR": "📵 <@{user}> ligou — não atendeu", "en": "📵 <@{user}> called — no answer"},
    "call.rejected": {"pt-BR": "📵 <@{user}> ligou — recusou", "en": "📵 <@{user}> called — declined"},
    "call.failed": {
        "pt-BR": "⚠️ <@{user}> tentou ligar — a ligação não se completou. Tente de novo em instantes (📞 Ligar agora).",
        "en": "⚠️ <@{user}> tried to call — the call didn't go through. Try again shortly (📞 Call now).",
    },
    "call.rate_limited": {
        "pt-BR": "⚠️ <@{user}> tentou ligar — a Pilot Status está limitando as chamadas agora. Tente de novo em um minuto.",
        "en": "⚠️ <@{user}> tried to call — Pilot Status is rate-limiting calls right now. Try again in a minute.",
    },
    "call.not_started": {
        "pt-BR": "⚠️ <@{user}> tentou ligar — a Pilot Status não confirmou e a ligação não começou. Tente de novo.",
        "en": "⚠️ <@{user}> tried to call — Pilot Status didn't confirm it and the call never started. Try again.",
    },
    "call.permission_required": {
        "pt-BR": "⚠️ <@{user}> tentou ligar, mas a permissão do cliente expirou ou foi retirada: peça de novo.",
        "en": "⚠️ <@{user}> tried to call, but the customer's permission has expired or was withdrawn: ask again.",
    },
    "call.unsupported": {
        "pt-BR": (
            "⚠️ <@{user}> tentou ligar, mas este número do WhatsApp (web) não faz ligações pelo navegador: "
            "use um número da API oficial (Meta)."
        ),
        "en": (
            "⚠️ <@{user}> tried to call, but this (web) WhatsApp number can't place browser calls: "
            "use an official API (Meta) number."
        ),
    },
    "call.no_browser_audio": {
        "pt-BR": (
            "⚠️ <@{user}> tentou ligar, mas a Pilot Status iniciou a ligação sem áudio para o navegador (isso "
            "acontece com números web do WhatsApp), então o AskCall desligou na hora. Ligue por um número da API "
            "oficial (Meta)."
        ),
        "en": (
            "⚠️ <@{user}> tried to call, but Pilot Status started the call with no audio for the browser (this "
            "happens with web WhatsApp numbers), so AskCall hung up at once. Call from an official API (Meta) number."
        ),
    },
    "call.duration": {"pt-BR": "{minutes} min {seconds} s", "en": "{minutes} min {seconds} s"},
    "call.seconds": {"pt-BR": "{seconds} s", "en": "{seconds} s"},
    "callopen.text": {"pt-BR": "Abrindo a página da ligação…", "en": "Opening the call page…"},
    "callrefused.title": {"pt-BR": "Link inválido", "en": "Link not valid"},
    "callrefused.text": {
        "pt-BR": (
            "Este link de ligação já foi usado, expirou ou não é seu. "
            "Clique de novo em “📞 Ligar agora” no Slack para receber um link novo."
        ),
        "en": (
            "This call link was already used, has expired or isn't yours. "
            "Click “📞 Call now” in Slack again to get a new link."
        ),
    },
    "again.not_yours": {
        "pt-BR": "Só <@{user}>, que fez este pedido, pode pedir novamente. Se você também precisa ligar, use `/askcall`.",
        "en": "Only <@{user}>, who made this request, can ask again. If you need to call too, use `/askcall`.",
    },
    "button.misplaced": {
        "pt-BR": "Este botão não pertence a esta mensagem; nada foi feito.",
        "en": "This button doesn't belong to this message; nothing was done.",
    },
    "budget.spent": {
        "pt-BR": (
            "Você já fez {limit} pedidos na última hora, o limite por pessoa (muitos pedidos de uma vez "
            "prejudicam a reputação do número de WhatsApp). Nada foi enviado; você pode pedir de novo a partir "
            "de {when}."
        ),
        "en": (
            "You made {limit} requests in the last hour, the limit per person (a burst of requests hurts the "
            "WhatsApp number's quality rating). Nothing was sent; you can ask again from {when}."
        ),
    },
    "budget.spent_short": {
        "pt-BR": "Você atingiu o limite de pedidos por hora. Nada foi enviado; tente de novo em {minutes} min.",
        "en": "You reached the limit of requests per hour. Nothing was sent; try again in {minutes} min.",
    },
    "again.not_now": {
        "pt-BR": "Este pedido ainda está em andamento (ou já foi pedido de novo); não há o que reenviar.",
        "en": "This request is still in progress (or was already asked again); there is nothing to resend.",
    },
    # --- expiry reminders ------------------------------------------------------------------------
    "reminder.warning": {
        "pt-BR": "<@{user}> ⏰ A permissão para ligar para {phone} expira amanhã, {until}. Se ainda precisa ligar, ligue antes.",
        "en": "<@{user}> ⏰ The permission to call {phone} expires tomorrow, {until}. If you still need to call, call before then.",
    },
    "reminder.expired": {
        "pt-BR": "<@{user}> ⌛ A permissão para ligar para {phone} expirou. Para ligar, peça de novo.",
        "en": "<@{user}> ⌛ The permission to call {phone} has expired. To call, ask again.",
    },
    "reminder.renewed": {
        "pt-BR": "<@{user}> ✅ O cliente renovou a permissão: pode ligar até {until}.",
        "en": "<@{user}> ✅ The customer renewed the permission: you may call until {until}.",
    },
    "reminder.now_permanent": {
        "pt-BR": "<@{user}> ♾️ O cliente agora permite ligações sem prazo.",
        "en": "<@{user}> ♾️ The customer now allows calls with no time limit.",
    },
    # --- modal from shortcuts -------------------------------------------------------------------
    "modal.channel_label": {"pt-BR": "Canal para acompanhar a resposta", "en": "Channel to follow the answer in"},
    # --- App Home -------------------------------------------------------------------------------
    "home.header": {"pt-BR": "Seus pedidos dos últimos 30 dias", "en": "Your requests from the last 30 days"},
    "home.ready": {"pt-BR": "*Pode ligar*", "en": "*Ready to call*"},
    "home.waiting": {"pt-BR": "*Aguardando o cliente*", "en": "*Waiting for the customer*"},
    "home.closed": {"pt-BR": "*Recusados, expirados ou não enviados*", "en": "*Declined, expired or not sent*"},
    "home.none": {"pt-BR": "_Nenhum._", "en": "_None._"},
    "home.empty": {
        "pt-BR": "Você não fez pedidos nos últimos 30 dias. Use `/askcall` em um canal para começar.",
        "en": "You made no requests in the last 30 days. Use `/askcall` in a channel to start.",
    },
    "home.item": {
        "pt-BR": "{marker} *{phone}* · {reason}\n{when} · <{link}|ver conversa>",
        "en": "{marker} *{phone}* · {reason}\n{when} · <{link}|open thread>",
    },
    "home.call": {"pt-BR": "{call} · {when}", "en": "{call} · {when}"},
    "home.calls": {"pt-BR": "{last} · {count} ligações no total", "en": "{last} · {count} calls in all"},
    "home.called": {
        "pt-BR": "*Suas ligações em pedidos de colegas*",
        "en": "*Your calls on teammates' requests*",
    },
    "home.called_item": {
        "pt-BR": "{marker} *{phone}* · pedido por <@{asker}> · {reason}\n{calls}\n<{link}|ver conversa>",
        "en": "{marker} *{phone}* · asked by <@{asker}> · {reason}\n{calls}\n<{link}|open thread>",
    },
    "home.dm_toggle": {
        "pt-BR": "Receber também uma mensagem direta a cada resposta",
        "en": "Also send me a direct message for every answer",
    },
    "dm.answer": {"pt-BR": "{text}\n<{link}|Ver a conversa>", "en": "{text}\n<{link}|Open the thread>"},
    # --- access control ----------------------------------------------------------------------
    "access.user": {
        "pt-BR": "Você ainda não tem acesso ao AskCall, então nada foi enviado.",
        "en": "You don't have access to AskCall yet, so nothing was sent.",
    },
    "access.channel": {
        "pt-BR": "O AskCall não está liberado em <#{channel}>, então nada foi enviado. Use-o em um canal de vendas liberado.",
        "en": "AskCall isn't enabled in <#{channel}>, so nothing was sent. Use it in an enabled sales channel.",
    },
    "access.no_number": {
        "pt-BR": "<#{channel}> não está ligado a nenhum número de WhatsApp do AskCall, então nada foi enviado.",
        "en": "<#{channel}> isn't linked to any AskCall WhatsApp number, so nothing was sent.",
    },
    "access.no_account": {
        "pt-BR": "Nenhuma conta do Pilot Status está conectada a este workspace ainda, então nada foi enviado. "
        "Um administrador do Slack precisa conectá-la na aba Início do AskCall, em Configurações.",
        "en": "No Pilot Status account is connected to this workspace yet, so nothing was sent. "
        "A Slack admin must connect it in AskCall's App Home, under Settings.",
    },
    # --- App Home settings (workspace admins) ---------------------------------------------------
    "settings.header": {"pt-BR": "Configurações", "en": "Settings"},
    "settings.env_only": {
        "pt-BR": "Estas configurações vêm do ambiente do servidor; só quem hospeda o AskCall as muda.",
        "en": "These settings come from the server's environment; only whoever hosts AskCall changes them.",
    },
    "settings.env_number": {"pt-BR": "Número *{name}*: chave {masked}", "en": "Number *{name}*: key {masked}"},
    "settings.none": {"pt-BR": "Nenhum número de WhatsApp configurado.", "en": "No WhatsApp number configured."},
    "settings.not_connected": {
        "pt-BR": "Nenhuma conta do Pilot Status conectada ainda: conecte uma para o AskCall poder pedir permissão.",
        "en": "No Pilot Status account connected yet: connect one so AskCall can ask for permission.",
    },
    "settings.number": {"pt-BR": "Número de WhatsApp *{name}* conectado", "en": "WhatsApp number *{name}* connected"},
    "settings.secret_set": {
        "pt-BR": "Segredo do webhook configurado: as respostas chegam assinadas.",
        "en": "Webhook secret set: answers arrive signed.",
    },
    "settings.hint_mode": {
        "pt-BR": "Falta o segredo do webhook: até lá o AskCall confere cada resposta com o Pilot Status e só "
        "aplica permissões concedidas (recusas não chegam). Cole o segredo para terminar.",
        "en": "The webhook secret is missing: until then AskCall checks every answer with Pilot Status and only "
        "applies granted permissions (declines don't arrive). Paste the secret to finish.",
    },
    "settings.connect_button": {"pt-BR": "Conectar o Pilot Status", "en": "Connect Pilot Status"},
    "settings.secret_button": {"pt-BR": "Colar o segredo do webhook", "en": "Paste the webhook secret"},
    "settings.connect_title": {"pt-BR": "Conectar Pilot Status", "en": "Connect Pilot Status"},
    "settings.connect_submit": {"pt-BR": "Conectar", "en": "Connect"},
    "settings.cancel": {"pt-BR": "Cancelar", "en": "Cancel"},
    "settings.save": {"pt-BR": "Salvar", "en": "Save"},
    "settings.connect_help": {
        "pt-BR": "Cole a chave de API do número de WhatsApp (painel do Pilot Status → Chaves de API). O AskCall "
        "confere a chave e registra o próprio webhook.",
        "en": "Paste the WhatsApp number's API key (Pilot Status dashboard → API keys). AskCall checks the key and "
        "registers its own webhook.",
    },
    "settings.key_label": {"pt-BR": "Chave de API do número", "en": "The number's API key"},
    "settings.secret_title": {"pt-BR": "Segredo do webhook", "en": "Webhook secret"},
    "settings.secret_submit": {"pt-BR": "Salvar", "en": "Save"},
    "settings.secret_help": {
        "pt-BR": "O Pilot Status não informa o segredo pela API. Abra o painel do Pilot Status → Webhooks, escolha "
        "o webhook do AskCall ({url}) e copie o segredo de assinatura.",
        "en": "Pilot Status never gives the secret through its API. Open the Pilot Status dashboard → Webhooks, "
        "pick AskCall's webhook ({url}) and copy its signing secret.",
    },
    "settings.secret_label": {"pt-BR": "Segredo de assinatura", "en": "Signing secret"},
    "settings.admins_only": {
        "pt-BR": "Só administradores do Slack mudam as configurações do AskCall.",
        "en": "Only Slack admins change AskCall's settings.",
    },
    "settings.checking": {
        "pt-BR": "Conferindo a chave com o Pilot Status…",
        "en": "Checking the key with Pilot Status…",
    },
    "settings.try_again": {
        "pt-BR": "Nada foi salvo: confira a chave e tente de novo.",
        "en": "Nothing was saved: check the key and try again.",
    },
    "settings.name_label": {"pt-BR": "Nome do número (opcional)", "en": "The number's name (optional)"},
    "settings.name_hint": {
        "pt-BR": "Vazio: o número padrão, que atende todos os canais sem número próprio. Para mais um número, dê "
        "um nome curto (letras minúsculas, dígitos, - e _), por exemplo rj.",
        "en": "Empty: the default number, serving every channel without a number of its own. For another number, "
        "give a short name (lowercase letters, digits, - and _), e.g. rj.",
    },
    "settings.name_malformed": {
        "pt-BR": "Use só letras minúsculas, dígitos, - e _ (até 40), começando por letra ou dígito.",
        "en": "Use only lowercase letters, digits, - and _ (up to 40), starting with a letter or digit.",
    },
    "settings.number_channels": {"pt-BR": "Canais: {channels}", "en": "Channels: {channels}"},
    "settings.number_other_channels": {
        "pt-BR": "Canais: os que não têm número próprio",
        "en": "Channels: those without a number of their own",
    },
    "settings.numbers_button": {"pt-BR": "Números e canais", "en": "Numbers and channels"},
    "settings.numbers_title": {"pt-BR": "Números e canais", "en": "Numbers and channels"},
    "settings.numbers_help": {
        "pt-BR": "Escolha os canais de cada número de WhatsApp. O número padrão atende todos os canais que não "
        "estão em outro número; um outro número sem canais não atende nenhum.",
        "en": "Pick each WhatsApp number's channels. The default number serves every channel that is not on "
        "another number; another number without channels serves none.",
    },
    "settings.number_label": {"pt-BR": "Canais do número {name}", "en": "Channels of number {name}"},
    "settings.channel_twice": {
        "pt-BR": "Um canal só pode usar um número: <#{channel}> também está no número {name}.",
        "en": "A channel can use only one number: <#{channel}> is also on number {name}.",
    },
    "settings.workspace_button": {"pt-BR": "Editar configurações", "en": "Edit settings"},
    "settings.workspace_title": {"pt-BR": "Configurações", "en": "Settings"},
    "settings.summary": {
        "pt-BR": "*Idioma padrão:* {language}\n*Limite por vendedor:* {budget}\n*Retenção:* {retention}\n"
        "*Canais:* {channels}\n*Quem pode usar:* {people}",
        "en": "*Default language:* {language}\n*Per-rep limit:* {budget}\n*Retention:* {retention}\n"
        "*Channels:* {channels}\n*Who may use it:* {people}",
    },
    "settings.language_pt-BR": {"pt-BR": "Português (Brasil)", "en": "Portuguese (Brazil)"},
    "settings.language_en": {"pt-BR": "Inglês", "en": "English"},
    "settings.budget_none": {"pt-BR": "sem limite", "en": "no limit"},
    "settings.budget_value": {"pt-BR": "{count} pedidos por hora", "en": "{count} requests per hour"},
    "settings.retention_never": {"pt-BR": "nunca apagar", "en": "never erase"},
    "settings.retention_value": {
        "pt-BR": "telefones e motivos apagados após {days} dias",
        "en": "phones and reasons erased after {days} days",
    },
    "settings.everywhere": {"pt-BR": "todos", "en": "all"},
    "settings.everyone": {"pt-BR": "todos", "en": "everyone"},
    "settings.language_label": {"pt-BR": "Idioma padrão", "en": "Default language"},
    "settings.language_hint": {
        "pt-BR": "Cada pessoa vê o idioma do próprio Slack quando é português ou inglês; senão, este.",
        "en": "Everyone sees their own Slack language when it is Portuguese or English; otherwise this one.",
    },
    "settings.budget_label": {"pt-BR": "Pedidos por vendedor por hora", "en": "Requests per rep per hour"},
    "settings.budget_hint": {"pt-BR": "0: sem limite.", "en": "0: no limit."},
    "settings.retention_label": {"pt-BR": "Retenção (dias)", "en": "Retention (days)"},
    "settings.retention_hint": {
        "pt-BR": "Depois de quantos dias o telefone e o motivo de um pedido encerrado são apagados (LGPD). 0: nunca.",
        "en": "After how many days a closed request's phone and reason are erased (LGPD). 0: never.",
    },
    "settings.channels_label": {"pt-BR": "Canais permitidos", "en": "Allowed channels"},
    "settings.channels_hint": {"pt-BR": "Vazio: todos os canais.", "en": "Empty: every channel."},
    "settings.users_label": {"pt-BR": "Pessoas permitidas", "en": "Allowed people"},
    "settings.users_hint": {
        "pt-BR": "Vazio (e sem grupos): todos do workspace.",
        "en": "Empty (and no user groups): everyone in the workspace.",
    },
    "settings.groups_label": {"pt-BR": "Grupos de usuários permitidos", "en": "Allowed user groups"},
    "settings.groups_hint": {
        "pt-BR": "Ids dos grupos, separados por vírgula (S0123456789: na página do grupo, em Pessoas → Grupos).",
        "en": "The groups' ids, comma-separated (S0123456789: on the group's page, under People → User groups).",
    },
    "settings.contact_label": {"pt-BR": "A quem pedir acesso", "en": "Whom to ask for access"},
    "settings.contact_hint": {
        "pt-BR": "Mostrado a quem não pode usar, por exemplo <#C0123456789> ou <@U0123456789>.",
        "en": "Shown to whoever may not use it, e.g. <#C0123456789> or <@U0123456789>.",
    },
    "settings.bad_number": {
        "pt-BR": "Use um número inteiro de 0 a {high}.",
        "en": "Use a whole number from 0 to {high}.",
    },
    "settings.bad_language": {"pt-BR": "Escolha português ou inglês.", "en": "Pick Portuguese or English."},
    "settings.bad_groups": {
        "pt-BR": "{value} não é o id de um grupo de usuários: use ids como S0123456789, separados por vírgula.",
        "en": "{value} is not a user group's id: use ids like S0123456789, comma-separated.",
    },
    "settings.too_many": {"pt-BR": "No máximo {count}.", "en": "At most {count}."},
    "settings.bad_contact": {
        "pt-BR": "Escreva um canal como <#C0123456789>, uma pessoa como <@U0123456789> ou um texto curto.",
        "en": "Write a channel as <#C0123456789>, a person as <@U0123456789> or a short text.",
    },
    # --- connecting Pilot Status (App Home settings) --------------------------------------------
    "connect.key_malformed": {
        "pt-BR": "Isso não parece uma chave do Pilot Status. Copie a chave do número em Chaves de API no painel.",
        "en": "That doesn't look like a Pilot Status key. Copy the number's key from API keys in the dashboard.",
    },
    "connect.no_public_url": {
        "pt-BR": "O AskCall não sabe o próprio endereço público (ASKCALL_PUBLIC_URL): avise quem o hospeda.",
        "en": "AskCall doesn't know its public address (ASKCALL_PUBLIC_URL): tell whoever hosts it.",
    },
    "connect.key_refused": {
        "pt-BR": "O Pilot Status recusou esta chave (errada ou revogada). Gere a chave do número de novo no painel.",
        "en": "Pilot Status refused this key (wrong or revoked). Regenerate the number's key in the dashboard.",
    },
    "connect.key_tenant": {
        "pt-BR": "Esta é a chave da conta; as ligações precisam da chave do próprio número (painel → Chaves de API).",
        "en": "This is the account's key; calls need the number's own key (dashboard → API keys).",
    },
    "connect.not_meta": {
        "pt-BR": "Este número não faz ligações: só números da API oficial da Meta (Cloud API) fazem.",
        "en": "This number can't make calls: only Meta Cloud API numbers can.",
    },
    "connect.calling_disabled": {
        "pt-BR": "As ligações estão desativadas neste número. Ative-as no painel do Pilot Status e tente de novo.",
        "en": "Calling is turned off on this number. Turn it on in the Pilot Status dashboard and try again.",
    },
    "connect.unreachable": {
        "pt-BR": "Não foi possível falar com o Pilot Status agora. Tente de novo em alguns minutos.",
        "en": "Couldn't reach Pilot Status just now. Try again in a few minutes.",
    },
    "connect.error": {
        "pt-BR": "O Pilot Status não confirmou a chave agora. Tente de novo em alguns minutos.",
        "en": "Pilot Status didn't confirm the key just now. Try again in a few minutes.",
    },
    "connect.webhook_failed": {
        "pt-BR": "A chave vale, mas o Pilot Status não aceitou o webhook do AskCall. Tente de novo em alguns minutos.",
        "en": "The key is good, but Pilot Status didn't accept AskCall's webhook. Try again in a few minutes.",
    },
    "connect.in_progress": {
        "pt-BR": "Este número já está sendo conectado agora, por outro envio. Reabra as Configurações em instantes.",
        "en": "This number is being connected right now, by another submission. Reopen Settings in a moment.",
    },
    "connect.secret_malformed": {
        "pt-BR": "Isso não parece um segredo de webhook. Copie-o do painel do Pilot Status, em Webhooks.",
        "en": "That doesn't look like a webhook secret. Copy it from the Pilot Status dashboard, under Webhooks.",
    },
    "connect.not_connected": {
        "pt-BR": "Conecte a conta do Pilot Status antes de colar o segredo.",
        "en": "Connect the Pilot Status account before pasting the secret.",
    },
    "access.ask_contact": {"pt-BR": "Peça acesso a {contact}.", "en": "Ask {contact} for access."},
    "access.ask_admin": {
        "pt-BR": "Peça acesso a quem administra o AskCall na sua empresa.",
        "en": "Ask whoever runs AskCall at your company for access.",
    },
    # --- dates --------------------------------------------------------------------------------
    "date.fallback_suffix": {"pt-BR": "UTC", "en": "UTC"},
    # --- the call page (bot/web), sent to the page as JSON; "{name}" is filled in by call.js ----
    "callpage.title": {"pt-BR": "Ligar para o cliente", "en": "Call the customer"},
    "callpage.customer": {"pt-BR": "Cliente", "en": "Customer"},
    "callpage.asked_by": {"pt-BR": "Pedido por", "en": "Asked by"},
    "callpage.reason": {"pt-BR": "Motivo", "en": "Reason"},
    "callpage.valid_until": {"pt-BR": "Permissão válida até", "en": "Permission valid until"},
    "callpage.permanent": {"pt-BR": "Permissão permanente", "en": "Permanent permission"},
    "callpage.call": {"pt-BR": "Ligar", "en": "Call"},
    "callpage.hangup": {"pt-BR": "Desligar", "en": "Hang up"},
    "callpage.mute": {"pt-BR": "Silenciar", "en": "Mute"},
    "callpage.unmute": {"pt-BR": "Ativar microfone", "en": "Unmute"},
    "callpage.mic_level": {"pt-BR": "Nível do microfone", "en": "Microphone level"},
    "callpage.state.idle": {"pt-BR": "Pronto para ligar", "en": "Ready to call"},
    "callpage.state.connecting": {"pt-BR": "Conectando…", "en": "Connecting…"},
    "callpage.state.ringing": {"pt-BR": "Chamando…", "en": "Ringing…"},
    "callpage.state.connected": {"pt-BR": "Em ligação", "en": "In call"},
    "callpage.state.ended": {"pt-BR": "Ligação encerrada", "en": "Call ended"},
    "callpage.state.failed": {"pt-BR": "A ligação não foi feita", "en": "The call didn't go through"},
    "callpage.ended.completed": {
        "pt-BR": "Ligação encerrada. Já pode fechar esta página.",
        "en": "The call has ended. You can close this page.",
    },
    "callpage.ended.missed": {
        "pt-BR": "O cliente não atendeu. Tente de novo mais tarde ou mande uma mensagem.",
        "en": "The customer didn't answer. Try again later or send a message.",
    },
    "callpage.ended.rejected": {
        "pt-BR": "O cliente recusou a ligação. Combine um horário por mensagem antes de tentar de novo.",
        "en": "The customer declined the call. Agree on a time by message before trying again.",
    },
    "callpage.error.no_webrtc": {
        "pt-BR": "Este navegador não faz ligações pela web. Abra o link no Chrome, Edge, Firefox ou Safari atualizados.",
        "en": "This browser can't make web calls. Open the link in an up-to-date Chrome, Edge, Firefox or Safari.",
    },
    "callpage.error.mic_denied": {
        "pt-BR": "O navegador bloqueou o microfone. Permita o microfone para esta página (ícone ao lado do endereço) e tente de novo.",
        "en": "The browser blocked the microphone. Allow the microphone for this page (icon next to the address) and try again.",
    },
    "callpage.error.mic_missing": {
        "pt-BR": "Nenhum microfone encontrado. Conecte um microfone ou fone com microfone e tente de novo.",
        "en": "No microphone found. Plug in a microphone or headset and try again.",
    },
    "callpage.error.permission_required": {
        "pt-BR": "A permissão do cliente para receber ligações expirou ou foi retirada. Peça de novo pelo Slack (/askcall).",
        "en": "The customer's permission to be called has expired or was withdrawn. Ask again from Slack (/askcall).",
    },
    "callpage.error.number_unsupported": {
        "pt-BR": "Este número de WhatsApp não faz ligações pelo navegador: só números da API oficial da Meta fazem (números web não). Ligue por um número da API oficial.",
        "en": "This WhatsApp number can't make browser calls: only Meta Cloud API numbers can (web numbers can't). Call from a Meta Cloud API number.",
    },
    "callpage.error.busy": {
        "pt-BR": "{name} já está em uma ligação com este cliente desde {since}. Espere terminar antes de ligar.",
        "en": "{name} has been on a call with this customer since {since}. Wait for it to end before calling.",
    },
    "callpage.error.no_browser_audio": {
        "pt-BR": "A Pilot Status iniciou a ligação sem áudio para o navegador (números web do WhatsApp fazem isso), então o AskCall desligou para o cliente não ficar esperando. Ligue por um número da API oficial da Meta.",
        "en": "Pilot Status started the call with no audio for the browser (web WhatsApp numbers do that), so AskCall hung up rather than leave the customer waiting. Call from a Meta Cloud API number.",
    },
    "callpage.error.rate_limited": {
        "pt-BR": "A Pilot Status está limitando as chamadas agora. Espere um minuto e tente de novo.",
        "en": "Pilot Status is rate-limiting calls right now. Wait a minute and try again.",
    },
    "callpage.error.provider": {
        "pt-BR": "A Pilot Status não conseguiu iniciar a ligação. Tente de novo em instantes; se continuar, avise quem administra o AskCall.",
        "en": "Pilot Status couldn't start the call. Try again shortly; if it keeps failing, tell whoever runs AskCall.",
    },
    "callpage.pending": {
        "pt-BR": "A Pilot Status demorou a responder; confirmando se a ligação começou…",
        "en": "Pilot Status was slow to answer; checking whether the call started…",
    },
    "callpage.error.not_started": {
        "pt-BR": "A Pilot Status não confirmou a ligação e ela não aparece lá: o telefone do cliente não tocou. Tente de novo.",
        "en": "Pilot Status didn't confirm the call and doesn't list it: the customer's phone didn't ring. Try again.",
    },
    "callpage.error.workspace_stopped": {
        "pt-BR": (
            "O AskCall não está mais ativo neste workspace do Slack (foi removido ou desativado), então não faz "
            "ligações. Fale com quem administra o Slack de vocês."
        ),
        "en": (
            "AskCall is no longer active in this Slack workspace (it was removed or disabled), so it makes no "
            "calls. Talk to whoever administers your Slack."
        ),
    },
    "callpage.error.connection": {
        "pt-BR": "A conexão de áudio caiu. Verifique sua internet e tente de novo.",
        "en": "The audio connection dropped. Check your internet connection and try again.",
    },
    # --- `askcall demo`: the narration around the Slack messages it shows (bot/demo) --------------------
    "demo.intro": {
        "pt-BR": "Demonstração do AskCall: o AskCall roda aqui com substitutos do Slack e da Pilot Status. Não precisa de conta e nada sai deste computador.",
        "en": "AskCall demo: AskCall runs here with stand-ins for Slack and Pilot Status. No account is needed and nothing leaves this computer.",
    },
    "demo.reason": {"pt-BR": "Podemos te ligar para fechar o pedido?", "en": "May we call you to close the order?"},
    "demo.types": {"pt-BR": "@{rep} digita em #{channel}:", "en": "@{rep} types in #{channel}:"},
    "demo.posts": {"pt-BR": "O AskCall publica em #{channel}:", "en": "AskCall posts in #{channel}:"},
    "demo.asks": {
        "pt-BR": "O AskCall pergunta ao cliente no WhatsApp, pela Pilot Status:",
        "en": "AskCall asks the customer on WhatsApp, through Pilot Status:",
    },
    "demo.sent": {"pt-BR": "para {to}: {text}", "en": "to {to}: {text}"},
    "demo.customer_allows": {
        "pt-BR": "O cliente toca em “permitir ligações” no WhatsApp (uma permissão temporária, de 7 dias).",
        "en": "The customer taps “allow calls” on WhatsApp (a temporary permission, 7 days).",
    },
    "demo.replies": {"pt-BR": "O AskCall responde na thread:", "en": "AskCall replies in the thread:"},
    "demo.now_shows": {"pt-BR": "A mensagem em #{channel} agora mostra:", "en": "The message in #{channel} now shows:"},
    "demo.worked": {
        "pt-BR": "✓ A resposta do cliente chegou à thread. A demonstração funcionou.",
        "en": "✓ The customer's answer reached the thread. The demo worked.",
    },
    "demo.failed": {"pt-BR": "✗ {error}. A demonstração falhou.", "en": "✗ {error}. The demo failed."},
    "demo.timeout": {"pt-BR": "{what}: não aconteceu em {seconds} s", "en": "{what} did not happen within {seconds} s"},
    "demo.step.channel_message": {"pt-BR": "A mensagem do AskCall no canal", "en": "AskCall's message in the channel"},
    "demo.step.whatsapp": {"pt-BR": "O pedido pelo WhatsApp", "en": "The WhatsApp request"},
    "demo.step.answer": {"pt-BR": "A resposta na thread da mensagem", "en": "The answer in the message's thread"},
    "demo.step.status": {
        "pt-BR": "A atualização de status da mensagem no canal",
        "en": "The status update of the channel message",
    },
    "demo.step.link_message": {"pt-BR": "A mensagem efêmera com o link", "en": "The ephemeral message with the link"},
    "demo.http": {
        "pt-BR": "O AskCall respondeu {what} com HTTP {status}",
        "en": "AskCall answered {what} with HTTP {status}",
    },
    "demo.http.command": {"pt-BR": "ao comando", "en": "the slash command"},
    "demo.http.click": {"pt-BR": "ao clique", "en": "the click"},
    "demo.http.webhook": {"pt-BR": "ao webhook do cliente", "en": "the customer's webhook"},
    "demo.no_button": {
        "pt-BR": "A mensagem no canal não tem o botão “{label}”",
        "en": "The channel message has no “{label}” button",
    },
    "demo.no_link": {
        "pt-BR": "A mensagem efêmera não tem link de ligação",
        "en": "The ephemeral message has no call link",
    },
    "demo.clicks": {
        "pt-BR": "@{rep} clica em “{label}” na mensagem em #{channel}.",
        "en": "@{rep} clicks “{label}” on the message in #{channel}.",
    },
    "demo.clicks_again": {
        "pt-BR": "@{rep} clica de novo em “{label}” na mensagem em #{channel}.",
        "en": "@{rep} clicks “{label}” on the message in #{channel} again.",
    },
    "demo.ephemeral": {
        "pt-BR": "O AskCall responde só para @{rep} (uma mensagem efêmera):",
        "en": "AskCall answers @{rep} only (an ephemeral message):",
    },
    "demo.open": {
        "pt-BR": "Abra a página da ligação no navegador (o link funciona uma vez, em até {minutes} minutos, em um só navegador):",
        "en": "Open the call page in your browser (the link works once, within {minutes} minutes, in one browser):",
    },
    "demo.press": {
        "pt-BR": "Aperte “{call}” lá e permita o microfone. O cliente de mentira ({customer}) ouve tocar por {ring} s,",
        "en": "Press “{call}” there and allow the microphone. The fake customer ({customer}) rings for {ring} s,",
    },
    "demo.tone": {
        "pt-BR": "depois atende e toca um tom de {hz} Hz: você deve ouvi-lo. Aperte “{hangup}” para encerrar a ligação;",
        "en": "then picks up and plays a {hz} Hz tone: you should hear it. Press “{hangup}” to end the call;",
    },
    "demo.reload": {
        "pt-BR": "recarregue a página para ligar de novo.{enter} Esta demonstração serve a página até você apertar Ctrl-C.",
        "en": "reload the page to call again.{enter} This demo serves the page until you press Ctrl-C.",
    },
    "demo.enter": {"pt-BR": " Aperte Enter aqui para receber um link novo.", "en": " Press Enter here for a new link."},
    "demo.no_browser": {
        "pt-BR": "(Nenhum navegador pôde ser aberto aqui: abra o link você mesmo.)",
        "en": "(No browser could be opened here: open the link yourself.)",
    },
    "demo.new_link": {
        "pt-BR": "Um link novo (funciona uma vez, em até {minutes} minutos):",
        "en": "A new link (it works once, within {minutes} minutes):",
    },
    "demo.stopped": {"pt-BR": "Encerrada.", "en": "Stopped."},
    "demo.aiortc_missing": {
        "pt-BR": "✗ `askcall demo --call` precisa do aiortc, que faz o papel do WhatsApp do cliente: pip install 'askcall[demo]' (de um checkout: pip install '.[demo]').",
        "en": "✗ `askcall demo --call` needs aiortc, which plays the customer's WhatsApp: pip install 'askcall[demo]' (from a checkout: pip install '.[demo]').",
    },
    "demo.call.offer": {
        "pt-BR": "☎️  A página enviou a oferta: a Pilot Status (de mentira) liga para {customer}.",
        "en": "☎️  The page sent its offer: Pilot Status (fake) calls {customer}.",
    },
    "demo.call.rings": {"pt-BR": "🔔 O telefone do cliente toca…", "en": "🔔 The customer's phone rings…"},
    "demo.call.picks_up": {
        "pt-BR": "📱 O cliente atende e toca um tom de {hz} Hz.",
        "en": "📱 The customer picks up and plays a {hz} Hz tone.",
    },
    "demo.call.audio": {
        "pt-BR": "🔊 Conectado: o áudio vai e volta (WebRTC entre o seu navegador e o telefone de mentira).",
        "en": "🔊 Connected: audio flows both ways (WebRTC between your browser and the fake phone).",
    },
    "demo.call.failed": {
        "pt-BR": "📵 A ligação falhou: {message} ({code}).",
        "en": "📵 The call failed: {message} ({code}).",
    },
    "demo.call.ended": {"pt-BR": "📵 A ligação terminou: {status}.", "en": "📵 The call ended: {status}."},
    "demo.call.ended_after": {
        "pt-BR": "📴 A ligação terminou ({status}) depois de {seconds} s; o telefone do cliente ouviu {heard} s do seu microfone.",
        "en": "📴 The call ended ({status}) after {seconds} s; the customer's phone heard {heard} s of your microphone.",
    },
    "demo.call.thread": {"pt-BR": "AskCall na thread: {line}", "en": "AskCall in the thread: {line}"},
    # --- the landing page and the install pages (multi-workspace mode: bot/web/install.py) ------------------------
    "install.title": {"pt-BR": "AskCall para o Slack", "en": "AskCall for Slack"},
    "install.pitch": {
        "pt-BR": (
            "Peça ao cliente, pelo WhatsApp, permissão para ligar, sem sair do Slack. Quando ele aceitar, ligue do "
            "navegador: a ligação aparece na mesma conversa."
        ),
        "en": (
            "Ask your customer over WhatsApp for permission to call, without leaving Slack. Once they allow it, "
            "call from the browser: the call shows up in the same thread."
        ),
    },
    "install.add": {"pt-BR": "Adicionar ao Slack", "en": "Add to Slack"},
    "install.privacy": {"pt-BR": "Política de privacidade", "en": "Privacy policy"},
    "install.support": {"pt-BR": "Suporte", "en": "Support"},
    "install.done_title": {"pt-BR": "AskCall instalado", "en": "AskCall is installed"},
    "install.done": {
        "pt-BR": "O AskCall foi instalado em {team}. Abra o Slack e digite /askcall em um canal para começar.",
        "en": "AskCall is installed in {team}. Open Slack and type /askcall in a channel to start.",
    },
    "install.open_slack": {"pt-BR": "Abrir o Slack", "en": "Open Slack"},
    "install.failed_title": {"pt-BR": "A instalação não foi concluída", "en": "The install did not finish"},
    "install.failed.access_denied": {
        "pt-BR": "A instalação foi cancelada no Slack. Nada foi instalado.",
        "en": "The install was cancelled in Slack. Nothing was installed.",
    },
    "install.failed.expired": {
        "pt-BR": (
            "Este link de instalação expirou ou foi aberto em outro navegador. Comece de novo por este navegador."
        ),
        "en": "This install link expired or was opened in another browser. Start again from this browser.",
    },
    "install.failed.other": {
        "pt-BR": "O Slack não concluiu a instalação. Tente de novo; se continuar, fale com o suporte.",
        "en": "Slack did not complete the install. Try again; if it keeps failing, contact support.",
    },
    "install.again": {"pt-BR": "Tentar de novo", "en": "Try again"},
    # --- the installer's welcome DM, right after Add to Slack (bot/services/welcome.py) ---------------------------
    "welcome.text": {
        "pt-BR": "O AskCall foi instalado em {team}. Próximo passo: conecte a Pilot Status em {settings}, na aba {home} do AskCall.",
        "en": "AskCall is installed in {team}. Next step: connect Pilot Status in {settings}, on AskCall's {home} tab.",
    },
    "welcome.title": {
        "pt-BR": "*Olá! O AskCall foi instalado em {team}.*",
        "en": "*Hi! AskCall is installed in {team}.*",
    },
    "welcome.what": {
        "pt-BR": (
            "Com o AskCall, seu time pede ao cliente, pelo WhatsApp, permissão para ligar, sem sair do Slack: "
            "`/askcall +55 11 98765-4321 Podemos te ligar para fechar o pedido?`. A resposta do cliente aparece na "
            "conversa do pedido e, quando ele aceita, a ligação sai do navegador."
        ),
        "en": (
            "With AskCall, your team asks customers over WhatsApp for permission to call, without leaving Slack: "
            "`/askcall +55 11 98765-4321 May we call you to close the order?`. The customer's answer shows up in "
            "the request's thread and, once they allow it, the call goes out from the browser."
        ),
    },
    "welcome.next": {
        "pt-BR": (
            "*Próximo passo:* conecte a sua conta da Pilot Status. Abra a aba {home} do AskCall, vá em "
            "*{settings}* e toque em *{connect}*: cole a chave de API do número de WhatsApp (do painel da Pilot "
            "Status). Até lá, o `/askcall` só lembra disso a quem o usar."
        ),
        "en": (
            "*Next step:* connect your Pilot Status account. Open AskCall's {home} tab, go to *{settings}* and "
            "press *{connect}*: paste your WhatsApp number's API key (from the Pilot Status dashboard). Until then, "
            "`/askcall` only reminds whoever uses it."
        ),
    },
    "welcome.home": {"pt-BR": "Início", "en": "Home"},
}
