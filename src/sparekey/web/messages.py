"""The human text of every API error code, in English (the catalogue id) for translation."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "validation_error": "Some of the data sent is missing or not valid.",
    "malformed_request": "The request could not be read: send valid JSON.",
    "payload_too_large": "The request is too large.",
    "password_too_weak": "Choose a stronger password.",
    "username_taken": "That username is already taken. Choose another one.",
    "invalid_credentials": "The username or password is not right.",
    "not_authenticated": "Sign in to continue.",
    "sudo_required": "Confirm your password (and a second factor) to make this change.",
    "rate_limited": "Too many attempts. Wait %(retry_after)s seconds and try again.",
    "not_found": "Not found.",
    "two_factor_disabled": "Two-step verification is off for this account.",
    "flow_not_found": "This sign-in was not found. Start again with your password.",
    "flow_expired": "This sign-in has ended. Start again with your password.",
    "invalid_code": "That code did not work. Check it and try again, or try another way.",
    "malformed_code": "That does not look like a code. Enter the 6 digits from your app or a backup code.",
    "code_typo": "This backup code has a typo: check each character against your sheet.",
    "code_already_used": "This backup code was already used. Each code works once: use another one.",
    "code_from_replaced_set": "This code is from an old sheet (set #%(set_number)s) that was replaced. "
    "Use the newest sheet.",
    "code_replayed": "This code was already used. Wait for the next code in your app.",
    "clock_drift_suspected": "Your device's clock seems about %(minutes)s minutes off. "
    "Turn on automatic date and time on the device, then try a new code.",
    "code_expired": "This code has expired. Ask for a new one.",
    "invalid_email": "That is not an e-mail address we can send to. Check it and try again.",
    "invalid_phone_number": "That is not a phone number we can send to. "
    "Write it with its country code (+81 90 1234 5678) or choose the country.",
    "contact_exists": "This address or number is already on your account.",
    "webauthn_failed": "Your passkey or security key could not be used. Try again, or try another way.",
    "registration_expired": "Adding the key took too long. Start again.",
    "key_exists": "This key is already registered.",
    "cannot_mute": "Messages about critical changes cannot be turned off.",
    "staff_only": "Only support staff signed in with two-step verification can do this.",
    "request_closed": "This recovery request is closed: it can no longer be decided.",
    "csrf_failed": "The form expired or came from another site. Reload the page and try again.",
    "method_not_allowed": "This method is not allowed here.",
    "internal_error": "Something went wrong on our side. Nothing was changed; try again.",
    "too_many_contacts": "You already have %(maximum)s recovery contacts: remove one first.",
    "org_role_required": "Your role in this organisation does not allow this.",
    "org_needs_owner": "An organisation always keeps an owner: make someone else an owner first.",
    "two_factor_required": "Your organisation requires two-step verification. "
    "Set up a second factor on your security page to continue.",
    "recovery_not_ready": "This recovery cannot be completed now: see its state on its page.",
    "stronger_sign_in_required": "This application needs a stronger sign-in. "
    "Sign in again with your second factor or your security key.",
    "unknown_host": "sparekey has no rule for this site, so it lets nobody in.",
    "not_in_group": "Your account is not in a group that may use this application.",
    "two_factor_needed": "This application needs two-step verification. "
    "Turn it on on your security page, then sign in again.",
    "security_key_needed": "This application needs a passkey or a security key. "
    "Add one on your security page, then sign in again with it.",
}

CLOCK_DIRECTION: dict[str, str] = {
    "fast": "Your device's clock seems about %(minutes)s minutes fast. "
    "Turn on automatic date and time on the device, then try a new code.",
    "slow": "Your device's clock seems about %(minutes)s minutes slow. "
    "Turn on automatic date and time on the device, then try a new code.",
}

PASSWORD_REASONS: dict[str, str] = {
    "too_short": "Use at least %(min_length)s characters.",
    "too_long": "Use at most %(max_length)s characters.",
    "common": "This password is too common. Choose one that others are unlikely to use.",
    "contains_username": "Do not use your username in the password.",
}

WEBAUTHN_REASONS: dict[str, str] = {
    "challenge": "This key answer was for an earlier request. Try the key again.",
    "origin": "The key was used on a page of another site. Use it on this site's own pages.",
    "rp_id": "The key answered for another site. Use a key registered for this site.",
    "user_presence": "Touch your key when it blinks, then try again.",
    "user_verification": "Unlock the passkey with your fingerprint, face or PIN, then try again.",
    "signature": "The key's answer could not be checked. Try the key again, or try another way.",
    "unknown_credential": "This key is not registered for your account. Use another key or another way.",
    "sign_count": "This key looks copied: its use counter went backwards. "
    "The attempt was refused and recorded. Use another way and check your keys.",
}

USERNAME_REASONS: dict[str, str] = {
    "looks_like_another": "That username looks too much like an existing one. Choose another one.",
}
