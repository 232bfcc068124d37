"""Realistic words for demo and scale data: names, reasons for a visit, diagnoses."""

SPECIALIZATIONS = (
    "Cardiology",
    "Dermatology",
    "Family medicine",
    "Gynecology",
    "Neurology",
    "Ophthalmology",
    "Orthopedics",
    "Pediatrics",
)

FIRST_NAMES = (
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Sophia",
    "Elijah",
    "Mia",
    "Lucas",
    "Hannah",
    "Jonas",
    "Lea",
    "Felix",
    "Mariam",
    "Omar",
    "Priya",
    "Arjun",
    "Yuki",
    "Kenji",
    "Chloe",
    "Mateo",
    "Isabella",
    "Samuel",
    "Zoe",
    "Daniel",
    "Aisha",
    "Tomás",
    "Ingrid",
    "Nils",
)

LAST_NAMES = (
    "Smith",
    "Johnson",
    "Garcia",
    "Miller",
    "Davis",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Nguyen",
    "Kim",
    "Patel",
    "Shah",
    "O'Brien",
    "Kowalski",
    "Novak",
    "Rossi",
    "Bianchi",
    "Haddad",
    "Cohen",
    "Tanaka",
    "Silva",
)

REASONS = {
    "Cardiology": (
        "Chest tightness when climbing stairs",
        "Follow-up after ECG",
        "Palpitations at night",
        "Blood pressure check",
    ),
    "Dermatology": (
        "Itchy rash on both forearms",
        "Mole that changed shape",
        "Acne treatment review",
        "Eczema flare-up",
    ),
    "Family medicine": (
        "Persistent cough for two weeks",
        "Annual check-up",
        "Fatigue and low energy",
        "Sore throat and fever",
    ),
    "Gynecology": ("Annual screening", "Irregular cycle", "Contraception advice", "Pelvic pain"),
    "Neurology": (
        "Recurring migraines",
        "Numbness in the left hand",
        "Dizziness when standing",
        "Sleep problems",
    ),
    "Ophthalmology": (
        "Blurred vision when reading",
        "Dry, irritated eyes",
        "Glasses prescription update",
        "Floaters in the right eye",
    ),
    "Orthopedics": (
        "Knee pain after running",
        "Lower back pain",
        "Shoulder stiffness",
        "Sprained ankle follow-up",
    ),
    "Pediatrics": ("Vaccination visit", "Ear pain and fever", "Growth check", "Rash after daycare"),
}

DIAGNOSES = {
    "Cardiology": (
        (
            "Essential hypertension, stage 1. Lifestyle changes discussed; home readings twice daily.",
            "Amlodipine 5 mg once daily",
        ),
        ("Benign palpitations; ECG shows sinus rhythm, no ectopy. Reduce caffeine.", "None"),
        (
            "Stable angina suspected; stress test ordered.",
            "Aspirin 100 mg daily; nitroglycerin spray as needed",
        ),
    ),
    "Dermatology": (
        (
            "Atopic dermatitis of the forearms, moderate. Emollients several times a day.",
            "Hydrocortisone 1% cream twice daily for 7 days",
        ),
        ("Seborrheic keratosis, benign. No treatment needed; photo documented.", "None"),
        (
            "Acne vulgaris, mild to moderate. Skin-care routine reviewed.",
            "Adapalene 0.1% gel nightly",
        ),
    ),
    "Family medicine": (
        (
            "Acute bronchitis, viral. Rest and fluids; return if fever persists beyond 3 days.",
            "Paracetamol 500 mg up to 4 times daily",
        ),
        (
            "Iron-deficiency anemia suspected; blood count and ferritin ordered.",
            "Ferrous sulfate 200 mg daily after results",
        ),
        (
            "Streptococcal pharyngitis, rapid test positive.",
            "Amoxicillin 500 mg three times daily for 10 days",
        ),
    ),
    "Gynecology": (
        ("Routine screening, cytology taken; no abnormal findings on examination.", "None"),
        (
            "Polycystic ovary syndrome suspected; hormone panel and ultrasound ordered.",
            "None until results",
        ),
        (
            "Contraception counselling; combined pill started.",
            "Levonorgestrel/ethinylestradiol daily",
        ),
    ),
    "Neurology": (
        (
            "Migraine without aura, episodic. Headache diary started; triggers discussed.",
            "Sumatriptan 50 mg at onset, max 2 per day",
        ),
        (
            "Carpal tunnel syndrome, left, mild. Night splint advised; nerve conduction study ordered.",
            "None",
        ),
        ("Orthostatic hypotension; increase fluid and salt intake.", "None"),
    ),
    "Ophthalmology": (
        ("Presbyopia. Reading glasses +1.50 prescribed.", "Spectacles +1.50 D"),
        (
            "Dry eye syndrome, evaporative. Warm compresses and lid hygiene.",
            "Artificial tears four times daily",
        ),
        (
            "Posterior vitreous detachment, no retinal tear on dilated exam. Return at once if flashes increase.",
            "None",
        ),
    ),
    "Orthopedics": (
        (
            "Patellofemoral pain syndrome, right knee. Physiotherapy referral, 6 sessions.",
            "Ibuprofen 400 mg as needed with food",
        ),
        (
            "Mechanical low back pain, no red flags. Stay active; core exercises.",
            "Naproxen 250 mg twice daily for 5 days",
        ),
        ("Lateral ankle sprain grade 1, healing well. Balance exercises.", "None"),
    ),
    "Pediatrics": (
        ("Routine vaccination given (MMR, second dose). No reaction observed.", "None"),
        (
            "Acute otitis media, left. Pain relief; review in 48 hours.",
            "Amoxicillin suspension 40 mg/kg/day for 5 days",
        ),
        (
            "Growth along the 60th percentile; development appropriate for age.",
            "Vitamin D 400 IU daily",
        ),
    ),
}
