#!/usr/bin/env python3
"""Regenerates dataset.json (the demo traffic of l0l3-load and `l0l3-console --demo`).

Edit the INTENTS table below, then run: python3 resources/demo/make_dataset.py
Intents are listed from most to least popular; the weight is Zipf(s) over that
rank. Per-region multipliers shift the mix (e.g. shipping questions are more
common in eu, invoices in nyc) so the three regions do not see identical traffic.
"""
import json
import os

ZIPF_S = 1.05

SYSTEM_PROMPT = (
    "You are Brightdesk's customer-support assistant. Brightdesk is a shared "
    "inbox and help-desk SaaS for small teams (plans: Free, Team, Business, "
    "Enterprise; billed monthly or yearly in USD, EUR or JPY) that also sells "
    "the Brightdesk Key hardware security key. Answer in at most five short "
    "sentences, link to help-center articles under https://help.brightdesk.example, "
    "never promise refunds or credits beyond the published policy, and hand "
    "over to a human agent when the customer asks for one."
)

# (id, title, {region multiplier}, [paraphrases])
# Some paraphrases differ from another only by case, punctuation or spacing:
# they normalise to the same cache key (NFC, case-fold, whitespace collapse,
# trailing punctuation trimmed). Most differ in wording.
# The first paraphrase of an intent is its canonical phrasing.
INTENTS = [
    ("reset_password", "Reset a forgotten password", {}, [
        "How do I reset my password?",
        "how do i reset my password",
        "How do I reset my  password??",
        "I forgot my password, what now?",
        "Can't log in, I don't remember my password",
        "Where is the reset password link?",
        "Password reset email never arrived",
        "How can I change the password I forgot?",
        "How can I reset my password",
        "how do I reset my pasword",
    ]),
    ("refund_policy", "Refund policy", {"eu": 1.3}, [
        "What is your refund policy?",
        "what is your refund policy",
        "Can I get a refund?",
        "Do you offer refunds on yearly plans?",
        "I was charged by mistake, can I get my money back?",
        "How long do refunds take?",
        "Is there a money-back guarantee?",
    ]),
    ("change_plan", "Upgrade or downgrade a plan", {}, [
        "How do I upgrade my plan?",
        "How do I upgrade my plan",
        "How can I switch from Team to Business?",
        "I want to downgrade to the free plan",
        "Change my subscription plan",
        "Can I change plans in the middle of a billing cycle?",
        "What happens to my data if I downgrade?",
        "Upgrade to Enterprise please",
        "How do I upgrade the plan of my account?",
        "Upgrading my plan: how do I do it?",
    ]),
    ("export_data", "Export account data", {"eu": 1.5}, [
        "How do I export my data?",
        "how do I export my data?",
        "Can I download all my tickets as CSV?",
        "Export all conversations to a file",
        "I need a full backup of my account data",
        "Is there a way to export contacts?",
        "GDPR data export request",
    ]),
    ("api_rate_limits", "API rate limits", {"nyc": 1.2, "tokyo": 1.2}, [
        "What are the API rate limits?",
        "What are the API rate limits",
        "what are the api rate limits?",
        "How many API requests can I make per minute?",
        "I'm getting 429 Too Many Requests from the API",
        "Can you raise my API rate limit?",
        "Is the rate limit per key or per account?",
        "Why is the API throttling me?",
        "What are the rate limits of the API?",
        "What is the API rate limit?",
    ]),
    ("invoice_download", "Download invoices", {"nyc": 1.4}, [
        "Where can I download my invoices?",
        "Where can I download my invoices",
        "How do I get a PDF invoice?",
        "I need last month's invoice for accounting",
        "Can I get all invoices for 2025?",
        "Where are my billing receipts?",
        "Send me a copy of my invoice",
    ]),
    ("enable_2fa", "Turn on two-factor authentication", {"tokyo": 1.3}, [
        "How do I enable 2FA?",
        "how do i enable 2fa",
        "How do I turn on two-factor authentication?",
        "Set up an authenticator app for my login",
        "Can I use a security key for 2FA?",
        "Make two-step verification mandatory for my team",
        "Where is the two factor setting?",
        "How do I enable 2FA on my account?",
        "How can I enable 2FA",
        "how do i enabel 2fa",
    ]),
    ("delete_account", "Delete an account", {"eu": 1.4}, [
        "How do I delete my account?",
        "How do I delete my account",
        "Please delete my account and all my data",
        "Close my Brightdesk account",
        "I want to permanently remove my workspace",
        "How can I cancel and erase everything?",
        "Right to erasure request",
    ]),
    ("shipping_times", "Brightdesk Key shipping times", {"eu": 1.6, "tokyo": 1.3, "nyc": 0.8}, [
        "How long does shipping take?",
        "how long does shipping take",
        "When will my Brightdesk Key arrive?",
        "What are your delivery times to Europe?",
        "Do you ship to Japan and how long does it take?",
        "My security key order hasn't shipped yet",
        "Estimated delivery for hardware orders?",
    ]),
    ("cancel_subscription", "Cancel a subscription", {}, [
        "How do I cancel my subscription?",
        "how do I cancel my subscription",
        "Cancel my plan",
        "Stop auto-renewal please",
        "I don't want to be billed next month",
        "How do I end my trial without paying?",
        "Turn off automatic renewal",
        "My subscription: how do I cancel it?",
        "How do I cancel my subscribtion?",
    ]),
    ("update_payment_method", "Update the card on file", {"nyc": 1.2}, [
        "How do I update my credit card?",
        "How do I update my credit card",
        "Change the payment method on my account",
        "My card expired, how do I add a new one?",
        "Can I pay by bank transfer instead of card?",
        "Replace the card used for billing",
        "Where do I edit billing details?",
    ]),
    ("add_teammate", "Invite a teammate", {}, [
        "How do I add a user to my team?",
        "How do I add a user to my team",
        "Invite a colleague to our workspace",
        "How many seats do I have and how do I add more?",
        "Add a new agent to the inbox",
        "Can I invite people from outside my company?",
        "How do I give someone access?",
    ]),
    ("pricing", "Plan prices", {}, [
        "How much does Brightdesk cost?",
        "how much does brightdesk cost?",
        "What is the price of the Business plan?",
        "Do you have a discount for nonprofits?",
        "Is there a cheaper yearly price?",
        "Pricing for 50 seats",
        "Compare plans and prices",
    ]),
    ("sso_setup", "Single sign-on (SAML/OIDC)", {"nyc": 1.2}, [
        "How do I set up SSO?",
        "How do I set up SSO",
        "Configure SAML with Okta",
        "Does Brightdesk support Azure AD single sign-on?",
        "Which plans include SSO?",
        "Enforce SSO for every user",
        "OIDC login with Google Workspace",
    ]),
    ("api_keys", "Create or rotate API keys", {"tokyo": 1.2}, [
        "How do I create an API key?",
        "how do I create an api key",
        "Where do I find my API token?",
        "Rotate my API key",
        "My API key was leaked, what should I do?",
        "Can I restrict an API key to read-only?",
        "Generate a new key for the REST API",
    ]),
    ("webhooks", "Webhooks", {"tokyo": 1.2}, [
        "How do I set up webhooks?",
        "How do I set up webhooks",
        "Webhook not firing on new tickets",
        "What is the retry policy for failed webhooks?",
        "How do I verify the webhook signature?",
        "Send an event to my server when a ticket closes",
    ]),
    ("data_residency", "Where data is stored", {"eu": 2.0, "tokyo": 1.2, "nyc": 0.6}, [
        "Where is my data stored?",
        "where is my data stored",
        "Can I keep my data in the EU?",
        "Do you have a Japanese data center?",
        "Data residency options for Enterprise",
        "Is customer data stored in the United States?",
        "Move my workspace to the EU region",
    ]),
    ("gdpr_dpa", "GDPR and the DPA", {"eu": 2.2, "nyc": 0.5, "tokyo": 0.6}, [
        "Are you GDPR compliant?",
        "are you gdpr compliant",
        "Where can I sign your DPA?",
        "Do you have a data processing agreement?",
        "List of sub-processors please",
        "Standard contractual clauses for transfers outside the EU",
    ]),
    ("login_issues", "Cannot log in", {}, [
        "I can't log in",
        "I can't log in!",
        "Login page keeps spinning",
        "It says my account is locked",
        "Stuck in a login loop",
        "Getting 'invalid credentials' but my password is right",
        "Why was I logged out?",
    ]),
    ("lost_2fa_device", "Lost the 2FA device", {"tokyo": 1.2}, [
        "I lost my phone with the authenticator app",
        "i lost my phone with the authenticator app",
        "How do I use a recovery code?",
        "Lost my Brightdesk Key, how do I log in?",
        "Reset two-factor for a teammate",
        "New phone, how do I move my 2FA?",
    ]),
    ("change_email", "Change the login email", {}, [
        "How do I change my email address?",
        "How do I change my email address",
        "Update the email I log in with",
        "My company changed domain, how do we update emails?",
        "Change the owner email of the account",
        "I no longer have access to my old email",
    ]),
    ("trial_extension", "Extend a free trial", {}, [
        "Can I extend my free trial?",
        "can I extend my free trial",
        "How long is the trial?",
        "My trial ended before we finished evaluating",
        "Do I need a credit card for the trial?",
        "Give me 7 more days of trial please",
    ]),
    ("vat_invoice", "VAT number on invoices", {"eu": 2.2, "nyc": 0.4}, [
        "How do I add my VAT number?",
        "how do I add my VAT number",
        "Reverse charge VAT on my invoice",
        "Why was I charged VAT?",
        "Put our company tax ID on invoices",
        "Correct the billing address on an old invoice",
    ]),
    ("jpy_billing", "Billing in yen", {"tokyo": 3.0, "nyc": 0.3, "eu": 0.3}, [
        "Can I pay in Japanese yen?",
        "can I pay in japanese yen",
        "Do you support invoices in JPY?",
        "Is consumption tax included in the price?",
        "Pay by konbini or bank transfer in Japan",
        "Switch my billing currency to yen",
    ]),
    ("service_status", "Is Brightdesk down?", {}, [
        "Is Brightdesk down?",
        "is brightdesk down",
        "Is there an outage right now?",
        "Where is your status page?",
        "Emails are not arriving in the inbox, is something broken?",
        "The app is very slow today",
    ]),
    ("integrations_slack", "Slack integration", {"nyc": 1.3}, [
        "How do I connect Slack?",
        "how do I connect slack",
        "Get notified in Slack for new tickets",
        "Slack integration stopped working",
        "Can I reply to tickets from Slack?",
        "Disconnect the Slack app",
    ]),
    ("email_forwarding", "Forward a support mailbox", {}, [
        "How do I forward support@ to Brightdesk?",
        "How do I forward support@ to Brightdesk",
        "Connect my Gmail inbox",
        "Set up email forwarding from Outlook",
        "Why are forwarded emails not showing up?",
        "Use my own domain for outgoing replies",
        "SPF and DKIM setup for sending",
    ]),
    ("sla_uptime", "SLA and uptime", {"nyc": 1.2}, [
        "What is your uptime SLA?",
        "what is your uptime SLA",
        "Do you offer service credits for downtime?",
        "What uptime did you have last quarter?",
        "Is there an SLA on the Business plan?",
        "Guaranteed availability for Enterprise",
    ]),
    ("security_compliance", "Security certifications", {"nyc": 1.3, "eu": 1.1}, [
        "Are you SOC 2 certified?",
        "are you soc 2 certified",
        "Do you have ISO 27001?",
        "Can I get your latest pen test report?",
        "Is data encrypted at rest?",
        "Security questionnaire for our vendor review",
    ]),
    ("mobile_app", "Mobile apps", {"tokyo": 1.4}, [
        "Is there a mobile app?",
        "is there a mobile app",
        "Brightdesk for iPhone",
        "Android app keeps crashing",
        "Push notifications are not working on my phone",
        "Can I answer tickets from my phone?",
    ]),
    ("auto_replies", "Automatic replies", {}, [
        "How do I set up an auto-reply?",
        "How do I set up an auto reply?",
        "Out of office message for the support inbox",
        "Send an automatic acknowledgement to customers",
        "Turn off the automatic reply",
        "Different auto replies per language",
    ]),
    ("ticket_tags", "Tags and routing rules", {}, [
        "How do I tag tickets automatically?",
        "how do I tag tickets automatically",
        "Route billing emails to the finance team",
        "Create a rule that assigns tickets by keyword",
        "Bulk edit tags on old tickets",
        "Why did my routing rule not trigger?",
    ]),
    ("storage_limits", "Attachment and storage limits", {}, [
        "What is the attachment size limit?",
        "what is the attachment size limit",
        "How much storage do I get?",
        "I ran out of storage space",
        "Can I attach a 50 MB file?",
        "Delete old attachments to free space",
    ]),
    ("order_tracking", "Track a hardware order", {"eu": 1.4, "tokyo": 1.2}, [
        "Where is my order?",
        "where is my order?",
        "Track my Brightdesk Key shipment",
        "I didn't get a tracking number",
        "My package says delivered but I don't have it",
        "Change the delivery address of my order",
    ]),
    ("hardware_returns", "Return a hardware key", {"eu": 1.5}, [
        "How do I return my Brightdesk Key?",
        "How do I return my Brightdesk Key",
        "The security key arrived broken",
        "Can I exchange my key for the USB-C version?",
        "What is the return window for hardware?",
        "Warranty on the Brightdesk Key",
    ]),
    ("custom_domain", "Custom help-center domain", {}, [
        "How do I use my own domain for the help center?",
        "How do I use my own domain for the help center",
        "Set up help.mycompany.com",
        "SSL certificate for my custom domain",
        "Custom domain shows a certificate error",
        "Can I white-label the support portal?",
    ]),
    ("audit_log", "Audit log", {"nyc": 1.2, "eu": 1.2}, [
        "Where is the audit log?",
        "where is the audit log",
        "Who deleted this ticket?",
        "Export the admin activity log",
        "How long do you keep audit logs?",
        "Track changes made by admins",
    ]),
    ("language_support", "Languages", {"tokyo": 1.8, "eu": 1.4}, [
        "Which languages do you support?",
        "which languages do you support",
        "Can the help center be in Japanese?",
        "Change the interface language to German",
        "Does the AI assistant answer in French?",
        "Translate customer emails automatically",
    ]),
    ("talk_to_human", "Talk to a human", {}, [
        "Can I talk to a human?",
        "can i talk to a human",
        "I want to speak to an agent",
        "Give me your phone number",
        "Escalate this to a manager",
        "Is there live chat support?",
    ]),
    ("account_owner_transfer", "Transfer account ownership", {}, [
        "How do I transfer ownership of the account?",
        "How do I transfer ownership of the account",
        "The account owner left the company",
        "Make someone else the admin",
        "Change the billing owner",
        "Transfer the workspace to a colleague",
    ]),
]

# Staged intents: the demo sends only their first paraphrase until it is
# served as a hit (approved), then all of them, so the later ones are misses
# with a shadow L1 candidate. Each has paraphrases the lexical embedder finds
# close to the first one (reordering, filler words, typos, inflection). The
# other intents send every paraphrase from the start: pending proposals of one
# question, grouped into a cluster in the console.
STAGED = {"reset_password", "change_plan", "api_rate_limits", "enable_2fa", "cancel_subscription"}

REGIONS = ["nyc", "tokyo", "eu"]


def main():
    intents = []
    for rank, (iid, title, mix, paraphrases) in enumerate(INTENTS, start=1):
        assert 6 <= len(paraphrases) <= 10, iid
        intent = {
            "id": iid,
            "title": title,
            "weight": round(1.0 / rank ** ZIPF_S, 6),
            "regions": {r: mix.get(r, 1.0) for r in REGIONS},
        }
        if iid in STAGED:
            intent["staged"] = True
        intent["paraphrases"] = paraphrases
        intents.append(intent)
    assert STAGED <= {i["id"] for i in intents}, STAGED
    dataset = {
        "format": "l0l3-demo-dataset",
        "version": 1,
        "company": "Brightdesk",
        "model": "gpt-4o-mini",
        "zipf_exponent": ZIPF_S,
        "regions": REGIONS,
        "system_prompt": SYSTEM_PROMPT,
        "intents": intents,
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dataset.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(dataset, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{out}: {len(intents)} intents, {sum(len(i['paraphrases']) for i in intents)} prompts")


if __name__ == "__main__":
    main()
