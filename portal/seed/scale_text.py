"""Words for `flask seed scale` beyond portal/seed/text.py: cities and the parts of a record.

The cities are ordered so that any prefix mixes time zones: even the smallest fraction has
clinics in New York, Los Angeles, Berlin and Mumbai (Asia/Kolkata, a half-hour offset).
"""

CITIES = (
    ("New York", "America/New_York"),
    ("Los Angeles", "America/Los_Angeles"),
    ("Berlin", "Europe/Berlin"),
    ("Mumbai", "Asia/Kolkata"),
    ("Chicago", "America/Chicago"),
    ("London", "Europe/London"),
    ("Sydney", "Australia/Sydney"),
    ("Denver", "America/Denver"),
    ("Boston", "America/New_York"),
    ("San Francisco", "America/Los_Angeles"),
    ("Munich", "Europe/Berlin"),
    ("Delhi", "Asia/Kolkata"),
    ("Houston", "America/Chicago"),
    ("Manchester", "Europe/London"),
    ("Canberra", "Australia/Sydney"),
    ("Salt Lake City", "America/Denver"),
    ("Philadelphia", "America/New_York"),
    ("Seattle", "America/Los_Angeles"),
    ("Hamburg", "Europe/Berlin"),
    ("Bengaluru", "Asia/Kolkata"),
    ("Dallas", "America/Chicago"),
    ("Edinburgh", "Europe/London"),
    ("Newcastle", "Australia/Sydney"),
    ("Albuquerque", "America/Denver"),
    ("Miami", "America/New_York"),
    ("San Diego", "America/Los_Angeles"),
    ("Cologne", "Europe/Berlin"),
    ("Chennai", "Asia/Kolkata"),
    ("Minneapolis", "America/Chicago"),
    ("Frankfurt", "Europe/Berlin"),
    ("Kolkata", "Asia/Kolkata"),
    ("Atlanta", "America/New_York"),
    ("Portland", "America/Los_Angeles"),
    ("Stuttgart", "Europe/Berlin"),
    ("Hyderabad", "Asia/Kolkata"),
    ("Washington", "America/New_York"),
    ("Düsseldorf", "Europe/Berlin"),
    ("Pune", "Asia/Kolkata"),
    ("Leipzig", "Europe/Berlin"),
    ("Ahmedabad", "Asia/Kolkata"),
)

CLINIC_KINDS = ("Health Center", "Family Clinic", "Medical Group", "Polyclinic", "Care Center")

# Weighted so that consultations dominate, as they do in a real chart.
RECORD_TYPE_WEIGHTS = {
    "consultation": 40,
    "diagnosis": 15,
    "prescription": 20,
    "lab_result": 12,
    "imaging": 5,
    "referral": 8,
}

HISTORY = (
    "History: symptoms began gradually over the past two weeks, worse in the evening and after exertion; no recent travel, no sick contacts at home.",
    "History: recurring complaint, first noticed last year; partial relief with over-the-counter medication; sleep and appetite otherwise unchanged.",
    "History: sudden onset three days ago; patient reports no fever, no weight loss and no night sweats; works long shifts at a desk.",
    "History: known hypertension and seasonal allergies; non-smoker, drinks alcohol occasionally; family history of diabetes on the mother's side.",
    "History: follow-up of the previous visit; adherence to the plan was good, with two missed doses; patient keeps a symptom diary.",
    "History: referred by the family physician for a second opinion; previous tests attached to the chart and reviewed with the patient today.",
    "History: intermittent episodes lasting minutes to hours, triggered by stress and lack of sleep; no loss of consciousness reported.",
    "History: mild symptoms since a viral infection a month ago; exercise tolerance reduced; no chest pain, no shortness of breath at rest.",
)

EXAMINATION = (
    "Examination: alert and oriented, in no acute distress; heart sounds regular, lungs clear on auscultation, abdomen soft and non-tender.",
    "Examination: localized tenderness without swelling or redness; full range of motion with mild discomfort at the end of the range.",
    "Examination: skin warm and dry, no rash elsewhere; lymph nodes not enlarged; neurological screen within normal limits.",
    "Examination: blood pressure repeated after five minutes of rest and confirmed; peripheral pulses present and symmetrical.",
    "Examination: findings unchanged compared with the last visit; no new lesions; reflexes symmetrical, gait steady.",
    "Examination: mild erythema of the throat, tonsils not enlarged; ears clear; no neck stiffness; capillary refill under two seconds.",
)

PLAN = (
    "Plan: discussed the diagnosis and the expected course; written instructions given; return earlier if symptoms worsen or new ones appear.",
    "Plan: laboratory tests ordered before the next visit; continue current medication; lifestyle advice on sleep, diet and activity given.",
    "Plan: referral letter sent; patient to book the specialist appointment within two weeks; results to be shared through the portal.",
    "Plan: start treatment as prescribed, review tolerance and effect at follow-up; patient understands the warning signs to watch for.",
    "Plan: watchful waiting for now; symptom diary to continue; imaging only if no improvement within four weeks.",
)

PRESCRIPTION_NOTES = (
    "Take with food and a full glass of water. Do not combine with other anti-inflammatory drugs. Stop and call if a rash appears.",
    "Refills: two. Avoid alcohol during treatment. Possible drowsiness: do not drive until you know how it affects you.",
    "Continue for the full course even when feeling better. Store at room temperature, away from children.",
    "Pharmacy may substitute a generic equivalent. Report dizziness, palpitations or swelling of the ankles at once.",
)

NOTES = (
    "Patient asked about the side effects of the medication and about returning to sport; both discussed in detail. Printed leaflet handed over. The patient prefers reminders by text message and will upload home readings through the portal before the next appointment.",
    "Shared decision making: options and their risks explained in plain language; patient chose the conservative approach for now and will reconsider after the test results. Interpreter not needed. Next of kin informed at the patient's request.",
    "Telephone follow-up arranged in one week to check progress. If the results are normal no further visit is needed; otherwise the clinic will call to book an earlier slot. The patient confirmed the contact details on file.",
    "Work note issued for three days. Patient advised to keep hydrated, rest, and resume activity gradually. Vaccination status reviewed and up to date. No known drug allergies; allergy list confirmed again today.",
)

FOLLOW_UP = (
    "Follow-up: review in two weeks, sooner if needed; the clinic will send a reminder the day before and the results will be discussed then.",
    "Follow-up: no routine review needed; patient may book through the portal if symptoms return or do not settle within a month.",
    "Follow-up: telephone check in one week, then a visit in six weeks to assess the response to treatment and adjust the dose.",
    "Follow-up: annual review as usual; the next screening is due in twelve months and has been added to the patient's reminders.",
)

SEVERITIES = ("mild", "moderate", "severe")
TRENDS = ("improving", "stable", "worsening", "resolved")

# ICD-10 codes of portal/seed/text.py DIAGNOSES, in the same order.
ICD10 = {
    "Cardiology": ("I10", "R00.2", "I20.9"),
    "Dermatology": ("L20.9", "L82.1", "L70.0"),
    "Family medicine": ("J20.9", "D50.9", "J02.0"),
    "Gynecology": ("Z01.419", "E28.2", "Z30.011"),
    "Neurology": ("G43.009", "G56.02", "I95.1"),
    "Ophthalmology": ("H52.4", "H04.123", "H43.811"),
    "Orthopedics": ("M22.2X1", "M54.50", "S93.401"),
    "Pediatrics": ("Z23", "H66.92", "Z00.129"),
}

ALLERGIES = ("none known", "penicillin", "pollen", "latex", "ibuprofen", "peanuts")

# Name, unit, lower and upper limit of the reference range: one panel per lab record.
LAB_TESTS = (
    ("Hemoglobin", "g/dL", 12.0, 16.0),
    ("White blood cells", "10^9/L", 4.0, 11.0),
    ("Platelets", "10^9/L", 150.0, 400.0),
    ("Sodium", "mmol/L", 135.0, 145.0),
    ("Potassium", "mmol/L", 3.5, 5.1),
    ("Creatinine", "mg/dL", 0.6, 1.2),
    ("Glucose, fasting", "mg/dL", 70.0, 99.0),
    ("C-reactive protein", "mg/L", 0.0, 5.0),
)
