"""A deterministic demo catalog: believable titles at any size, identical for the same seed.

Load tests, search and recommendations need a catalog that is large (up to ~100,000 titles and
about a million assets), varied enough that queries mean something, and reproducible so that two
runs or two machines compare. Everything is drawn from one ``random.Random(seed)`` and every date
derives from fixed constants, so the output never depends on the clock or on global random state.
Titles are produced lazily, one at a time with their assets, so memory stays flat at any size.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import TypeVar

from api.catalog.models import GENRES, Artwork, Asset, Episode, Season, Title, TitleType, Window
from api.maturity import MaturityRating

T = TypeVar("T")

# The demo's "now": windows are placed before, around or after it.
REFERENCE_NOW = datetime(2026, 11, 1, tzinfo=UTC)
ADDED_FROM = datetime(2020, 1, 1, tzinfo=UTC)
COUNTRIES = ("US", "GB", "CA", "DE", "FR", "ES", "RS", "BR", "JP", "KR", "IN")
KIDS_GENRES = frozenset({"kids", "family", "animation"})
DARK_GENRES = frozenset({"horror", "thriller", "crime"})


def _words(text: str) -> tuple[str, ...]:
    """A word list written as running text: one-word entries separated by whitespace."""
    return tuple(text.split())


def _phrases(text: str) -> tuple[str, ...]:
    """A phrase list: entries separated by newlines or `` | ``."""
    return tuple(p.strip() for line in text.splitlines() for p in line.split("|") if p.strip())


ADJECTIVES = _words("""
Silent Broken Hidden Crimson Golden Hollow Frozen Burning Endless Forgotten Wild Quiet Savage
Electric Velvet Iron Glass Scarlet Midnight Distant Fallen Restless Shattered Invisible Last
First Lonely Bitter Secret Stolen Painted Sleeping Wandering Haunted Reckless Northern Southern
Eastern Western Pale Bright Dark Lost Sacred Rogue Cold Neon Copper Silver Amber Obsidian
Emerald Sapphire Ivory Ashen Crooked Gentle Fearless Hungry Lucky Perfect Dangerous Beautiful
Strange Curious Ancient Modern Final Hollowed Radiant Twisted Vanishing Burnt Sunken Drifting
Rising Falling Howling Whispering Shifting Tender Brutal Infinite Little Grand Royal Deadly
Open Closed Blind Borrowed Faded Fractured Luminous Phantom Primal Quantum Rusted Salt Shadowed
Thin Wicked Young
""")
NOUNS = _words("""
Harbor Protocol Signal Empire Garden Witness Horizon Kingdom River Mirror Frontier Station
Cipher Lantern Orchard Covenant Archive Verdict Circuit Tide Ember Compass Fortress Paradox
Requiem Summit Labyrinth Outpost Reckoning Sanctuary Voyage Heist Inheritance Letter Machine
Orbit Promise Refuge Season Theory Throne Tower Valley Wolf Crown Daughter Stranger Detective
Pilot Engine Island Canyon Lighthouse Carnival Monsoon Avalanche Eclipse Meridian Nocturne
Odyssey Pendulum Quarry Rhapsody Spiral Tempest Undertow Vendetta Wilderness Alibi Blueprint
Cathedral Dynasty Exodus Fugitive Gambit Hourglass Insurgent Juror Keeper Legacy Mosaic Nomad
Oracle Phoenix Ransom Sentinel Tribunal Uprising Vault Warden Zenith Asylum Bridge Code
Dominion Echo Forge Gate Hunter Ledger Mountain Network Passage Shore Storm Testament Current
Debt Flight Mercy Mile Silence Sparrow Raven Falcon Serpent Tiger Lion Fox Stag Orchid Rose
""")
PLACES = _phrases("""
Kyoto | Lisbon | Belgrade | Marrakesh | Havana | Oslo | Bombay | Seoul | Cairo | Valparaiso
Istanbul | Prague | Tangier | Reykjavik | Montreal | Naples | Odessa | Kingston | Manila
Lagos | Nairobi | Sarajevo | Trieste | Porto | Seville | Bruges | Salzburg | Krakow | Tbilisi
Samarkand | Kathmandu | Hanoi | Osaka | Busan | Recife | Bahia | Patagonia | Yukon | Alaska
Montana | Nevada | Texas | Louisiana | Brooklyn | Harlem | Soho | Montmartre | Berlin | Hamburg
Vienna | Zagreb | Novi Sad | Danube | Sahara | Gobi | Atacama | Siberia | Tuscany | Provence
Andalusia | Bavaria | Highlands | Cornwall | Dublin | Galway | Edinburgh | Glasgow | Calcutta
Goa | Jaipur | Sapporo | Okinawa | Jeju | Lima | Cusco | Quito | Bogota | Oaxaca | Tijuana
Vancouver | Halifax | Quebec | Chicago | Detroit | Memphis | Savannah | Monterey | Tahoe
Malibu | Tokyo | Shanghai | Macau | Bangkok | Saigon | Zanzibar
""")
ABSTRACTS = _words("""
Echoes Ghosts Shadows Secrets Songs Letters Memories Children Ashes Rivers Dreams Stars Bones
Lights Voices Roads Tales Kings Queens Wolves Saints Thieves Ruins Storms Whispers Fires
Daughters Sons Angels Strangers Lovers Soldiers Masters Witches Heirs Prisoners
""")
NIGHTS = ("Midnight", "Dawn", "Dusk", "Winter", "Summer", "Autumn", "Spring", "Sunday", "Zero")
ANIMALS = _words("""
Otter Penguin Fox Bear Bunny Dragon Owl Kitten Puppy Dinosaur Robot Panda Giraffe Hedgehog
Duckling Turtle Monkey Unicorn Whale Koala Mouse Badger Squirrel Elephant Raccoon Llama Octopus
Frog Beaver Moose Goat Parrot Seal Lamb Pony Firefly
""")
KIDS_THINGS = _words("""
Treehouse Rocket Rainbow Cupcake Balloon Castle Moon Forest Puddle Kite Sandcastle Lullaby
Picnic Garden Snowflake Carousel Submarine Bakery Dream Train Lighthouse Jungle Circus Cloud
Parade Pumpkin
""")
KIDS_ADJECTIVES = _words("""
Brave Tiny Sleepy Giggly Magic Busy Happy Clever Bouncy Wobbly Sparkly Curious Little Silly
Super Mighty Fluffy Jolly Cosmic
""")
DOC_SUBJECTS = _phrases("""
the Deep Ocean | Coral Reefs | the Human Brain | Street Food | Jazz | Volcanoes | the Silk Road
Honeybees | Rainforests | the Cold War | Chess | Skyscrapers | Wild Cats | the Moon Landing
Glaciers | Opera | Espionage | Ancient Rome | Coffee | Formula One | Migrating Birds | Wolves
the Internet | Great Chefs | Deserts | Deep Space | Submarines | Rivers | Mushrooms | Sharks
Lost Cities | Climbing | Surfing | Architecture | Fashion | Hip-Hop | Punk Rock | Cinema
Pandemics | Elections | Whales | Elephants | the Arctic | Monsoons | Trains | Bridges | Bread
Wine | Tea | Chocolate | Robots | Artificial Intelligence | Particle Physics | Dinosaurs
Pirates | Samurai | Vikings | Pharaohs | Cartels | Cold Cases
""")
DOC_OPENERS = _phrases("""
Inside | Chasing | Secrets of | The Story of | Life Among | Beyond | Searching for
The Truth About | Planet of | Into | The World of | Rise of | Fall of | Portraits of
""")
FIRST_NAMES = _words("""
Ava Noah Mila Luka Sofia Mateo Elena Jonas Aiko Hiro Min-ji Ji-ho Priya Arjun Ines Diego Chloe
Louis Greta Felix Nadia Stefan Jelena Marko Ana Nikola Camila Thiago Giulia Marco Aisha Omar
Freya Liam Olivia Ethan Maya Leo Zara Kai Nora Emil Ingrid Rafael Lucia Tomas Hana Yuki Ravi
Meera Daniel Grace Samuel Iris Oscar Vera Hugo Clara Isaac Ruby Elias Layla Ivan Dara Malik
Selin Pablo Rosa Viktor Alma Bruno Lena Caleb Tess Dmitri Anouk Sven Mirela Kenji Sakura Dev
Anika Jules Margot Wes June Silas Hazel Reza Leila Amara Kofi Esme Rowan
""")
LAST_NAMES = _words("""
Harper Moreau Novak Petrovic Tanaka Kim Park Sharma Kapoor Garcia Fernandez Rossi Bianchi
Muller Schneider Dubois Laurent Silva Santos Costa Jovanovic Nikolic Ilic Markovic Sato
Nakamura Choi Lee Patel Mehta Okafor Mensah Larsen Lindqvist Eriksen OBrien Gallagher Walsh
Reyes Alvarez Ortega Castillo Whitaker Blackwood Ashford Hale Quinn Sterling Vance Mercer
Calloway Hartley Fontaine Delacroix Brandt Kowalski Horvat Kovac Popescu Dimitrov Haddad Nasser
Yilmaz Demir Ivanova Volkov Andersson Berg Weiss Hoffmann Marchetti Conti Moreno Navarro
Pereira Almeida Okada Mori Han Yoon Iyer Rao Bose Duarte Lowell Prescott Thorne Winslow
Sinclair Rivers Stone Wilder
""")
ROLES = _phrases("""
retired detective | young surgeon | disgraced journalist | rookie cop | small-town mayor
war photographer | con artist | chess prodigy | deep-sea diver | night-shift nurse
failed novelist | ex-soldier | museum curator | hacker | single father | ballet dancer
public defender | ship's captain | astronaut | wedding planner | chef | getaway driver
schoolteacher | forensic accountant | park ranger | jazz pianist | bounty hunter
diplomat's daughter | stand-up comedian | lighthouse keeper | data scientist | priest
""")
GOALS = _phrases("""
uncover the truth behind a decades-old disappearance
pull off one last impossible job
protect a witness nobody else believes
win back the family business
survive a winter cut off from the world
decode a message that should not exist
bring a runaway sister home
stop a conspiracy reaching the highest office
find love where they least expect it
clear their name of a crime they did not commit
lead a crew across hostile territory
expose a charming killer
keep a promise made to a dying friend
rebuild a life from the ruins of a scandal
outwit a rival who knows all their secrets
hold a fractured family together
""")
STAKES = _phrases("""
the storm season closes every road | their own past catches up with them
the city turns against them | the last train leaves | the election is decided
a second victim is found | the money runs out | the truth destroys everyone they love
the ice melts | dawn | the trial begins | their partner's betrayal comes to light
""")
INCIDENTS = _phrases("""
a stranger arrives with a forged passport
a body washes ashore
a fortune is left to the wrong heir
the power fails across the whole city
an old photograph resurfaces
a satellite falls silent
a famous painting vanishes
a wrong number changes everything
""")
SOURCES = _phrases("""
rare archive footage | the people who lived it | never-before-seen interviews
a year of patient filming | the scientists at the frontier | breathtaking aerial photography
""")
VERBS = _phrases("""
uncovers | hides | confronts | chases | forgives | betrays | questions | rescues | follows
misjudges | protects | tests | loses | finds | bargains with | avoids
""")
OBJECTS = _phrases("""
a hidden ledger | an old rival | a dangerous ally | the missing key | a stolen car
a secret recording | the wrong suspect | a ghost from the past | an unexpected offer
the final clue | a sealed letter | a furious landlord | the night watchman | a new recruit
""")
EPISODE_NOUNS = (
    NOUNS + ABSTRACTS + _words("Night Morning Return Aftermath Crossing Fault Thaw Turn")
)
NAME_PATTERNS = (
    "The {adj} {noun}",
    "{adj} {noun}",
    "{abstract} of {place}",
    "{night} {noun}",
    "The {noun} of {place}",
    "{place} {noun}",
    "The {noun} and the {other}",
    "{first}'s {noun}",
    "{abstract} of the {adj} {noun}",
    "The {adj} {noun} of {place}",
    "{adj} {abstract}",
)
KIDS_PATTERNS = (
    "The {adj} {animal}",
    "{animal} and the {adj} {thing}",
    "{first} and the {thing}",
    "{adj} {animal} Adventures",
    "{first}'s {adj} {thing}",
    "{first} and the {adj} {animal}",
)
LANGUAGE_WEIGHTS = {
    "en-US": 50, "es-ES": 8, "fr-FR": 7, "de-DE": 5, "ja-JP": 7,
    "ko-KR": 8, "sr-RS": 2, "pt-BR": 4, "it-IT": 4, "hi-IN": 5,
}  # fmt: skip
LANGUAGES = tuple(LANGUAGE_WEIGHTS)
LANGUAGE_CUM = tuple(accumulate(LANGUAGE_WEIGHTS.values()))
HOME_COUNTRY = {language: language[-2:] for language in LANGUAGES}

# Primary genre for movies and series ("documentary" is its own type); ~17% are kids-ish.
PRIMARY_WEIGHTS = {
    "action": 11, "adventure": 7, "animation": 5, "comedy": 13, "crime": 9, "drama": 15,
    "family": 5, "fantasy": 5, "horror": 6, "kids": 7, "mystery": 5, "romance": 6,
    "sci-fi": 6, "thriller": 8, "western": 2,
}  # fmt: skip
PRIMARY_GENRES = tuple(PRIMARY_WEIGHTS)
PRIMARY_CUM = tuple(accumulate(PRIMARY_WEIGHTS.values()))
KIDS_COMPANIONS = ("adventure", "animation", "comedy", "family", "fantasy", "kids", "mystery")
ADULT_COMPANIONS = tuple(g for g in GENRES if g not in KIDS_GENRES and g != "documentary")
DOC_COMPANIONS = ("crime", "adventure", "drama", "family", "mystery", "comedy", "sci-fi")

RatingTable = tuple[tuple[MaturityRating, ...], tuple[int, ...]]


def _table(weights: dict[MaturityRating, int]) -> RatingTable:
    return tuple(weights), tuple(accumulate(weights.values()))


RATINGS: dict[tuple[bool, str], RatingTable] = {
    (True, "kids"): _table({"G": 45, "PG": 55}),
    (True, "dark"): _table({"PG-13": 35, "R": 55, "NC-17": 10}),
    (True, "other"): _table({"G": 3, "PG": 15, "PG-13": 40, "R": 38, "NC-17": 4}),
    (False, "kids"): _table({"TV-Y": 25, "TV-Y7": 30, "TV-G": 25, "TV-PG": 20}),
    (False, "dark"): _table({"TV-PG": 5, "TV-14": 40, "TV-MA": 55}),
    (False, "other"): _table({"TV-G": 8, "TV-PG": 22, "TV-14": 40, "TV-MA": 30}),
    (False, "doc"): _table({"TV-G": 20, "TV-PG": 35, "TV-14": 30, "TV-MA": 15}),
}
SEASON_COUNTS = (1, 2, 3, 4, 5, 6)
SEASON_CUM = tuple(accumulate((35, 25, 16, 11, 8, 5)))


def _weighted(rng: random.Random, items: Sequence[T], cum: Sequence[int]) -> T:
    return rng.choices(items, cum_weights=cum)[0]


def _pick(bits: int, items: Sequence[T]) -> tuple[T, int]:
    """Spend part of one random integer on a choice: many picks for one call into the RNG."""
    bits, index = divmod(bits, len(items))
    return items[index], bits


class _Generator:
    """One pass over the catalog; holds the RNG and the name pools drawn from it."""

    def __init__(self, seed: int, base_url: str) -> None:
        self.rng = random.Random(seed)
        self.base_url = base_url.rstrip("/")
        people = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
        pool = self.rng.sample(people, 600)
        self.cast_pool, self.directors = pool[:480], pool[480:]

    def title(self, n: int) -> tuple[Title, list[Asset]]:
        rng = self.rng
        roll = rng.random()
        kind: TitleType = "movie" if roll < 0.6 else "series" if roll < 0.9 else "documentary"
        genres = self.genres(kind)
        kids = not KIDS_GENRES.isdisjoint(genres)
        languages = self.languages()
        release_year = 1960 + int(67 * rng.random() ** 0.55)  # skewed recent: ~18% 2020s
        date_added = self.date_added(release_year)
        title_id = f"t_{n:06d}"
        title = Title(
            id=title_id,
            type=kind,
            name=self.name(kind, kids),
            synopsis=self.synopsis(kind, kids),
            genres=genres,
            maturity_rating=self.rating(kind, genres, kids),
            cast=rng.sample(self.cast_pool, rng.randint(2, 6)),
            director=rng.choice(self.directors),
            release_year=release_year,
            languages=languages,
            artwork=self.artwork(title_id),
            date_added=date_added,
            availability=self.availability(languages[0], date_added),
            published=rng.random() >= 0.01,
            popularity=self.popularity(),
            duration_s=0,
            updated_at=date_added,
        )
        if kind == "series":
            return title, self.fill_series(title, n)
        return title, [self.fill_single(title, n, kind)]

    # --- classification -------------------------------------------------------------------

    def genres(self, kind: TitleType) -> list[str]:
        rng = self.rng
        extra = 0 if (r := rng.random()) < 0.35 else 1 if r < 0.8 else 2
        if kind == "documentary":
            return ["documentary", *rng.sample(DOC_COMPANIONS, extra)]
        primary = _weighted(rng, PRIMARY_GENRES, PRIMARY_CUM)
        companions = KIDS_COMPANIONS if primary in KIDS_GENRES else ADULT_COMPANIONS
        others = [g for g in rng.sample(companions, extra + 1) if g != primary]
        return [primary, *others[:extra]]

    def rating(self, kind: TitleType, genres: list[str], kids: bool) -> MaturityRating:
        if kids:
            mood = "kids"
        elif kind == "documentary":
            mood = "doc"
        elif not DARK_GENRES.isdisjoint(genres):
            mood = "dark"
        else:
            mood = "other"
        items, cum = RATINGS[(kind == "movie", mood)]
        return _weighted(self.rng, items, cum)

    def languages(self) -> list[str]:
        rng = self.rng
        original = _weighted(rng, LANGUAGES, LANGUAGE_CUM)
        extra = 0 if (r := rng.random()) < 0.4 else 1 if r < 0.75 else 2
        others = [lang for lang in LANGUAGES if lang != original]
        return [original, *rng.sample(others, extra)]

    # --- names and text -------------------------------------------------------------------

    def name(self, kind: TitleType, kids: bool) -> str:
        rng = self.rng
        if kind == "documentary":
            return self.documentary_name()
        if kids:
            return rng.choice(KIDS_PATTERNS).format(
                adj=rng.choice(KIDS_ADJECTIVES),
                animal=rng.choice(ANIMALS),
                thing=rng.choice(KIDS_THINGS),
                first=rng.choice(FIRST_NAMES),
            )
        name = rng.choice(NAME_PATTERNS).format(
            adj=rng.choice(ADJECTIVES),
            noun=rng.choice(NOUNS),
            other=rng.choice(NOUNS),
            place=rng.choice(PLACES),
            abstract=rng.choice(ABSTRACTS),
            night=rng.choice(NIGHTS),
            first=rng.choice(FIRST_NAMES),
        )
        if kind == "movie" and rng.random() < 0.05:
            name += rng.choice((" II", " II", " III", " IV"))
        return name

    def documentary_name(self) -> str:
        rng = self.rng
        subject = rng.choice(DOC_SUBJECTS)
        opener, place, roll = rng.choice(DOC_OPENERS), rng.choice(PLACES), rng.random()
        if roll < 0.3:
            return f"{place}: {subject[0].upper()}{subject[1:]}"
        if roll < 0.5:
            return f"{opener} {subject}"
        return f"{opener} {subject} in {place}"

    def synopsis(self, kind: TitleType, kids: bool) -> str:
        rng = self.rng
        hero, place = rng.choice(FIRST_NAMES), rng.choice(PLACES)
        if kind == "documentary":
            subject, source = rng.choice(DOC_SUBJECTS), rng.choice(SOURCES)
            return (
                f"A journey into {subject}, from {place} to the wider world, told through {source}."
            )
        if kids:
            animal, thing = rng.choice(ANIMALS).lower(), rng.choice(KIDS_THINGS).lower()
            return f"{hero} the {animal} and friends set off to find the missing {thing}."
        role, goal, stakes = rng.choice(ROLES), rng.choice(GOALS), rng.choice(STAKES)
        if rng.random() < 0.5:
            return f"{hero}, a {role} in {place}, must {goal} before {stakes}."
        incident = rng.choice(INCIDENTS)
        return f"When {incident} in {place}, a {role} named {hero} sets out to {goal}."

    # --- presentation, dates, reach -------------------------------------------------------

    def artwork(self, title_id: str) -> Artwork:
        root = f"{self.base_url}/static/artwork/{title_id}"
        return Artwork(
            poster=f"{root}/poster.jpg",
            background=f"{root}/background.jpg",
            thumbnail=f"{root}/thumbnail.jpg",
        )

    def date_added(self, release_year: int) -> datetime:
        start = max(ADDED_FROM, datetime(release_year, 1, 1, tzinfo=UTC))
        span = int((REFERENCE_NOW - start).total_seconds())
        return start + timedelta(seconds=self.rng.randrange(span))

    def popularity(self) -> float:
        """Pareto(1.2) squashed into 0..1: median ~0.07, ~3% above 0.5."""
        x = self.rng.paretovariate(1.2)
        return round((x - 1.0) / (x + 9.0), 6)

    def availability(self, original: str, date_added: datetime) -> list[Window]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.05:
            return self.windowed(date_added)
        countries = self.restricted_countries(original) if roll < 0.2 else COUNTRIES
        return [Window(country=country) for country in countries]

    def restricted_countries(self, original: str) -> list[str]:
        rng = self.rng
        choice = rng.randrange(4)
        if choice == 0:
            return [c for c in COUNTRIES if c != "JP"]
        if choice == 1:
            return ["US", "CA"]
        if choice == 2:
            missing = set(rng.sample(COUNTRIES, rng.randint(1, 4)))
            return [c for c in COUNTRIES if c not in missing]
        home = HOME_COUNTRY[original]
        return sorted({home, "US"} if home in COUNTRIES else {"US", "GB"})

    def windowed(self, date_added: datetime) -> list[Window]:
        """Future start, past end, or open now; future bounds are far enough to stay so a while."""
        rng = self.rng
        starts_at: datetime | None = None
        ends_at: datetime | None = None
        shape = rng.randrange(3)
        if shape == 0:
            starts_at = REFERENCE_NOW + timedelta(days=rng.randint(90, 365))
        elif shape == 1:
            ends_at = date_added + (REFERENCE_NOW - date_added) * rng.uniform(0.3, 0.95)
            ends_at = ends_at.replace(microsecond=0)
        else:
            starts_at = date_added
            ends_at = REFERENCE_NOW + timedelta(days=rng.randint(180, 720))
        countries = COUNTRIES if rng.random() < 0.7 else COUNTRIES[:3]
        return [Window(country=c, starts_at=starts_at, ends_at=ends_at) for c in countries]

    # --- assets ---------------------------------------------------------------------------

    def fill_single(self, title: Title, n: int, kind: TitleType) -> Asset:
        low, high = (80, 170) if kind == "movie" else (40, 110)
        title.duration_s = self.rng.randint(low, high) * 60 + self.rng.randrange(60)
        title.asset_id = f"a_{n:06d}_m"
        return Asset(id=title.asset_id, title_id=title.id, duration_ms=title.duration_s * 1000)

    def fill_series(self, title: Title, n: int) -> list[Asset]:
        rng = self.rng
        title.duration_s = rng.randint(20, 60) * 60
        cast = rng.sample(FIRST_NAMES, 3)  # the characters episodes are about
        assets: list[Asset] = []
        for season in range(1, _weighted(rng, SEASON_COUNTS, SEASON_CUM) + 1):
            episodes = [
                self.episode(title, n, season, number, cast, assets)
                for number in range(1, rng.randint(6, 12) + 1)
            ]
            title.seasons.append(Season(season=season, episodes=episodes))
        return assets

    def episode(
        self, title: Title, n: int, season: int, number: int, cast: list[str], out: list[Asset]
    ) -> Episode:
        bits = self.rng.getrandbits(96)
        jitter, bits = _pick(bits, range(-150, 151))
        duration_s = min(3600, max(1200, title.duration_s + jitter))
        asset_id = f"a_{n:06d}_s{season:02d}e{number:02d}"
        out.append(
            Asset(
                id=asset_id,
                title_id=title.id,
                season=season,
                episode=number,
                duration_ms=duration_s * 1000,
            )
        )
        name, bits = _episode_name(bits, season, number)
        synopsis, _ = _episode_synopsis(bits, cast)
        return Episode(
            episode=number, asset_id=asset_id, name=name, synopsis=synopsis, duration_s=duration_s
        )


def _episode_name(bits: int, season: int, number: int) -> tuple[str, int]:
    if season == 1 and number == 1:
        return "Pilot", bits
    pattern, bits = _pick(bits, range(4))
    adjective, bits = _pick(bits, ADJECTIVES)
    noun, bits = _pick(bits, EPISODE_NOUNS)
    if pattern == 0:
        return f"The {adjective} {noun}", bits
    if pattern == 1:
        other, bits = _pick(bits, EPISODE_NOUNS)
        return f"{noun} and {other}", bits
    return f"{adjective} {noun}", bits


def _episode_synopsis(bits: int, cast: list[str]) -> tuple[str, int]:
    first, bits = _pick(bits, cast)
    second, bits = _pick(bits, cast)
    verb, bits = _pick(bits, VERBS)
    thing, bits = _pick(bits, OBJECTS)
    place, bits = _pick(bits, PLACES)
    if first == second:
        return f"In {place}, {first} {verb} {thing}.", bits
    return f"{first} {verb} {thing} while {second} is away in {place}.", bits


def generate(
    count: int, *, seed: int = 7, base_url: str = "http://127.0.0.1:8000"
) -> Iterator[tuple[Title, list[Asset]]]:
    """Yield ``count`` titles (``t_000001``...) with their assets; same seed, same catalog."""
    generator = _Generator(seed, base_url)
    for n in range(1, count + 1):
        yield generator.title(n)
