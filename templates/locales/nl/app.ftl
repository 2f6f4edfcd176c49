# Organizeo web-app — Nederlands. Elke id hier staat ook in ../en/app.ftl.

## Kader
nav-label = Hoofdmenu
nav-dashboard = Dashboard
nav-contacts = Contacten
nav-sign-out = Afmelden
lang-label = Taal
lang-en = English
lang-nl = Nederlands

## Aanmelden voor een portaal
signup-title = Maak je portaal aan
signup-intro = Een portaal bevat je contacten, deals en campagnes. Jij wordt de eigenaar.
signup-portal = Naam van het portaal
signup-name = Je naam
signup-email = E-mailadres
signup-password = Wachtwoord
signup-password-hint = Minstens 8 tekens met een hoofdletter, een kleine letter, een cijfer en een speciaal teken; geen veelgebruikt wachtwoord.
signup-submit = Portaal aanmaken
signup-have-account = Heb je al een account?

## Inloggen
login-title = Inloggen
login-email = E-mailadres
login-password = Wachtwoord
login-submit = Inloggen
login-no-account = Nieuw hier?
login-forgot = Wachtwoord vergeten? Opnieuw instellen kan nog niet: dat komt met uitnodigingen per e-mail. Vraag tot dan een eigenaar of beheerder van je portaal.
login-invalid = Onjuist e-mailadres of wachtwoord.
login-no-portal = Dit account hoort bij geen enkel portaal.
portal-title = Kies een portaal
portal-intro = Je account heeft meerdere portalen. Welke wil je openen?
portal-role = als { $role }
portal-invited = uitnodiging: accepteren en openen
code-title = Tweestapsverificatie
code-intro = Voer de 6-cijferige code uit je authenticator-app in, of een van je herstelcodes.
code-label = Code
code-submit = Controleren
code-invalid = Die code werkte niet. Probeer de huidige code opnieuw.
code-restart = Opnieuw beginnen

## Dashboard
dashboard-title = Dashboard
dash-status = Verbinding
dash-contacts = Contacten
dash-new-today = Nieuw vandaag
dash-open-deals = Open deals
dash-open-tickets = Open tickets
dash-tasks-due = Taken te doen
dash-stages = Open deals per fase
dash-pipeline = Pijplijn
dash-stage = Fase
dash-deals = Deals
dash-amount = Bedrag
dash-activity = Activiteit
dash-connecting = verbinden…
dash-live = live
dash-reconnecting = opnieuw verbinden…
dash-pending = in afwachting
dash-overdue = te laat
dash-gap = Er is activiteit overgeslagen terwijl je offline was.

## Contacten
contacts-title = Contacten
contacts-search = Contacten zoeken
contacts-search-submit = Zoeken
contacts-clear = Wissen
contacts-new = Nieuw contact
contacts-empty = Nog geen contacten.
contacts-none-found = Geen contacten gevonden voor “{ $q }”.
contacts-next = Volgende pagina
contacts-first = Eerste pagina
col-name = Naam
col-email = E-mailadres
col-phone = Telefoon
col-tags = Labels
col-created = Toegevoegd
contact-title = Contact
contact-new-title = Nieuw contact
contact-edit-title = Contact bewerken
contact-edit = Bewerken
contact-back = Alle contacten
contact-created = Toegevoegd
contact-updated = Laatst gewijzigd
contact-no-name = (geen naam)
field-email = E-mailadres
field-first-name = Voornaam
field-last-name = Achternaam
field-phone = Telefoon
field-tags = Labels
field-tags-hint = Scheid labels met komma's.
field-required = is verplicht
form-save = Opslaan
form-cancel = Annuleren
form-errors = Verbeter de velden die hieronder gemarkeerd zijn.

## Fouten
error-title = Er ging iets mis
error-back = Terug naar de app
error-csrf = Dit formulier is van elders verstuurd, of het is te oud. Er is niets gewijzigd: laad de pagina opnieuw en probeer het nog eens.
error-forbidden-role = Je rol in dit portaal staat dit niet toe.
error-not-found-detail = Misschien is het verwijderd, of het hoort bij een ander portaal.
error-mfa-enrolment = Dit portaal vereist tweestapsverificatie. Stel die eerst in voor je account (het scherm daarvoor komt eraan; de API heeft POST /api/v1/me/mfa/totp).
error-rate-limited = Te veel pogingen. { $seconds ->
        [one] Probeer het over een seconde opnieuw.
       *[other] Probeer het over { $seconds } seconden opnieuw.
    }
error-400 = Het verzoek kon niet worden gelezen.
error-401 = Log eerst in.
error-403 = Niet toegestaan
error-404 = Niet gevonden
error-405 = Deze pagina accepteert dat soort verzoek niet.
error-409 = Dit botst met iets dat al bestaat.
error-413 = Dat is te groot.
error-422 = Sommige velden vragen aandacht.
error-429 = Rustig aan
error-500 = Er ging bij ons iets mis. Het is vastgelegd.
error-503 = De dienst is druk. Probeer het zo opnieuw.
