# Organizeo web app — English. Every id here must also be in ../nl/app.ftl
# (src/web/i18n.rs tests that both catalogs hold the same ids).

## Frame
nav-label = Main
nav-dashboard = Dashboard
nav-contacts = Contacts
nav-sign-out = Sign out
lang-label = Language
lang-en = English
lang-nl = Nederlands

## Sign up
signup-title = Create your portal
signup-intro = A portal holds your contacts, deals and campaigns. You will be its owner.
signup-portal = Portal name
signup-name = Your name
signup-email = Email
signup-password = Password
signup-password-hint = At least 8 characters with an upper-case letter, a lower-case letter, a digit and a special character; not a common password.
signup-submit = Create portal
signup-have-account = Already have an account?

## Sign in
login-title = Sign in
login-email = Email
login-password = Password
login-submit = Sign in
login-no-account = New here?
login-forgot = Forgot your password? Resetting it is not available yet: it comes with invitations by email. Until then, ask an owner or admin of your portal.
login-invalid = Invalid email or password.
login-no-portal = This account belongs to no portal.
portal-title = Choose a portal
portal-intro = Your account has several portals. Which one do you want to open?
portal-role = as { $role }
portal-invited = invitation: accept and open
code-title = Two-factor authentication
code-intro = Enter the 6-digit code from your authenticator app, or one of your recovery codes.
code-label = Code
code-submit = Verify
code-invalid = That code did not work. Try the current code again.
code-restart = Start again

## Dashboard
dashboard-title = Dashboard
dash-status = Connection
dash-contacts = Contacts
dash-new-today = New today
dash-open-deals = Open deals
dash-open-tickets = Open tickets
dash-tasks-due = Tasks due
dash-stages = Open deals by stage
dash-pipeline = Pipeline
dash-stage = Stage
dash-deals = Deals
dash-amount = Amount
dash-activity = Activity
dash-connecting = connecting…
dash-live = live
dash-reconnecting = reconnecting…
dash-pending = pending
dash-overdue = overdue
dash-gap = Some activity was skipped while offline.

## Contacts
contacts-title = Contacts
contacts-search = Search contacts
contacts-search-submit = Search
contacts-clear = Clear
contacts-new = New contact
contacts-empty = No contacts yet.
contacts-none-found = No contacts match “{ $q }”.
contacts-next = Next page
contacts-first = First page
col-name = Name
col-email = Email
col-phone = Phone
col-tags = Tags
col-created = Added
contact-title = Contact
contact-new-title = New contact
contact-edit-title = Edit contact
contact-edit = Edit
contact-back = All contacts
contact-created = Added
contact-updated = Last changed
contact-no-name = (no name)
field-email = Email
field-first-name = First name
field-last-name = Last name
field-phone = Phone
field-tags = Tags
field-tags-hint = Separate tags with commas.
field-required = is required
form-save = Save
form-cancel = Cancel
form-errors = Please correct the fields marked below.

## Errors
error-title = Something went wrong
error-back = Back to the app
error-csrf = This form was sent from somewhere else, or it is too old. Nothing was changed: reload the page and try again.
error-forbidden-role = Your role in this portal does not allow this.
error-not-found-detail = It may have been deleted, or it belongs to another portal.
error-mfa-enrolment = This portal requires two-factor authentication. Set it up for your account first (the app's screen for it is coming; the API has POST /api/v1/me/mfa/totp).
error-rate-limited = Too many attempts. { $seconds ->
        [one] Try again in one second.
       *[other] Try again in { $seconds } seconds.
    }
error-400 = The request could not be read.
error-401 = Please sign in.
error-403 = Not allowed
error-404 = Not found
error-405 = This page does not take that kind of request.
error-409 = This conflicts with something that exists.
error-413 = That is too large.
error-422 = Some fields need attention.
error-429 = Slow down
error-500 = Something went wrong on our side. It has been logged.
error-503 = The service is busy. Try again in a moment.
