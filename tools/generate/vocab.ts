/**
 * Word lists for the generator. The names deliberately include what breaks
 * naive parsers and encoders: accents, Æ ligatures, Japanese, emoji (UTF-16
 * surrogate pairs, 4-byte UTF-8), embedded double quotes and backslashes.
 */

export interface Expansion { id: number, code: string, name_en: string }

export interface Game {
  id: number
  /** Catalog table that holds this game's singles; null = the operator does not catalog it (unmapped). */
  table: string | null
  singlesCategory: number
  sealedCategory: number
  /** properties_hash key for the language. */
  languageKey: string
  languages: readonly string[]
  /** Cumulative weights over `languages`. */
  languageWeights: readonly number[]
  expansions: readonly Expansion[]
  names: readonly string[]
}

function exps (base: number, list: string): Expansion[] {
  return list.trim().split('\n').map((line, i) => {
    const [code, name] = line.trim().split('|')
    return { id: base + i * 7, code, name_en: name }
  })
}

const magicNames = [
  'Lightning Bolt', 'Counterspell', 'Dark Ritual', 'Llanowar Elves', 'Swords to Plowshares', 'Brainstorm',
  'Sol Ring', 'Birds of Paradise', 'Thoughtseize', 'Tarmogoyf', 'Snapcaster Mage', 'Ragavan, Nimble Pilferer',
  'The One Ring', 'Sheoldred, the Apocalypse', 'Orcish Bowmasters', 'Fable of the Mirror-Breaker',
  'Ancestral Recall', 'Force of Will', 'Wrenn and Six', 'Jace, the Mind Sculptor', 'Emrakul, the Aeons Torn',
  'Æther Vial', 'Ætherize', 'Jötun Grunt', 'Lim-Dûl the Necromancer', 'Dandân', 'Ifh-Bíff Efreet',
  'Márton Stromgald', 'Séance', 'Junún Efreet', 'Ghazbán Ogre', 'Khabál Ghoul', 'El-Hajjâj', 'Déjà Vu',
  'Ach! Hans, Run!', '"Ach! Hans, Run!"', 'Who // What // When // Where // Why', 'Fire // Ice',
  'Our Market Research Shows That Players Like Really Long Card Names So We Made this Card to Have the Absolute Longest Card Name Ever Elemental',
  'Island', 'Mountain', 'Forest', 'Plains', 'Swamp', 'Command Tower', 'Arcane Signet', 'Cultivate',
  'Path to Exile', 'Mana Crypt', 'Rhystic Study', 'Smothering Tithe', 'Cyclonic Rift', 'Demonic Tutor',
  'Urza\'s Saga', 'Mishra\'s Factory', 'Gaea\'s Cradle', 'Yawgmoth\'s Will', 'Ugin, the Spirit Dragon',
  'B.F.M. (Big Furry Monster)', 'Kongming, "Sleeping Dragon"', 'Backslash \\ Test Elemental',
]

const pokemonNames = [
  'Pikachu', 'Charizard ex', 'Mewtwo', 'Eevee', 'Gardevoir ex', 'Umbreon VMAX', 'Rayquaza V', 'Lugia V',
  'Professor\'s Research', 'Boss\'s Orders', 'Nest Ball', 'Ultra Ball', 'Rare Candy', 'Iono', 'Arven',
  'Flabébé', 'Floette', 'Florges', 'Pokémon Catcher', 'Nidoran♀', 'Nidoran♂', 'Farfetch\'d', 'Mr. Mime',
  'Type: Null', 'Porygon-Z', 'Ho-Oh', 'Jangmo-o', 'Kommo-o', 'Flutter Mane', 'Iron Valiant ex',
  'ピカチュウ', 'リザードンex', 'ミュウツー', 'イーブイ', 'ナンジャモ', 'ブラッキーVMAX',
]

const onePieceNames = [
  'Monkey.D.Luffy', 'Roronoa Zoro', 'Nami', 'Usopp', 'Sanji', 'Tony Tony.Chopper', 'Nico Robin', 'Franky',
  'Brook', 'Jinbe', 'Portgas.D.Ace', 'Trafalgar Law', 'Eustass"Captain"Kid', 'Boa Hancock', 'Shanks',
  'Kaido', 'Charlotte Linlin', 'Yamato', 'Sabo', 'Edward.Newgate', 'Donquixote Doflamingo', 'Crocodile',
  'Gum-Gum Jet Pistol', 'Thousand Sunny', 'Don!! Card',
  'モンキー・D・ルフィ', 'ロロノア・ゾロ', 'ナミ', 'トラファルガー・ロー', 'ヤマト', 'ポートガス・D・エース',
]

const fabNames = [
  'Command and Conquer', 'Enlightened Strike', 'Snatch', 'Sink Below', 'Fyendal\'s Spring Tunic',
  'Crown of Providence', 'Art of War', 'Pummel', 'Scar for a Scar', 'Lunging Press', 'Tectonic Plating',
]

const yugiohNames = [
  'Ash Blossom & Joyous Spring', 'Blue-Eyes White Dragon', 'Dark Magician', 'Pot of Greed',
  'Accesscode Talker', 'Nibiru, the Primal Being', 'Infinite Impermanence', 'Effect Veiler',
]

export const games: Record<string, Game> = {
  magic: {
    id: 1,
    table: 'cards_prints',
    singlesCategory: 1,
    sealedCategory: 4,
    languageKey: 'mtg_language',
    languages: ['en', 'it', 'de', 'fr', 'es', 'pt', 'jp', 'ru', 'zh-CN', 'ko'],
    languageWeights: [60, 8, 8, 6, 5, 3, 5, 2, 2, 1],
    expansions: exps(1000, `
      lea|Limited Edition Alpha
      arn|Arabian Nights
      ice|Ice Age
      ulg|Urza's Legacy
      mh2|Modern Horizons 2
      mh3|Modern Horizons 3
      ltr|The Lord of the Rings: Tales of Middle-earth
      dmu|Dominaria United
      one|Phyrexia: All Will Be One
      woe|Wilds of Eldraine
      lci|The Lost Caverns of Ixalan
      mkm|Murders at Karlov Manor
      otj|Outlaws of Thunder Junction
      blb|Bloomburrow
      dsk|Duskmourn: House of Horror
      unh|Unhinged
      ust|Unstable
      cmm|Commander Masters
      2x2|Double Masters 2022
      sld|Secret Lair Drop Series`),
    names: magicNames,
  },
  pokemon: {
    id: 5,
    table: 'pk_prints',
    singlesCategory: 73,
    sealedCategory: 75,
    languageKey: 'pokemon_language',
    languages: ['en', 'it', 'de', 'fr', 'es', 'pt', 'jp', 'ko', 'zh-CN'],
    languageWeights: [55, 8, 6, 6, 4, 2, 15, 2, 2],
    expansions: exps(3000, `
      base1|Base Set
      jungle|Jungle
      sv1|Scarlet & Violet
      sv3pt5|151
      sv4|Paradox Rift
      sv8|Surging Sparks
      swsh7|Evolving Skies
      swsh12pt5|Crown Zenith
      sv2a|ポケモンカード151
      cel25|Celebrations`),
    names: pokemonNames,
  },
  onepiece: {
    id: 15,
    table: 'op_prints',
    singlesCategory: 192,
    sealedCategory: 193,
    languageKey: 'onepiece_language',
    languages: ['en', 'jp', 'fr', 'zh-CN'],
    languageWeights: [55, 40, 3, 2],
    expansions: exps(5000, `
      OP01|Romance Dawn
      OP02|Paramount War
      OP03|Pillars of Strength
      OP04|Kingdoms of Intrigue
      OP05|Awakening of the New Era
      OP06|Wings of the Captain
      OP07|500 Years in the Future
      ST01|Straw Hat Crew
      EB01|Memorial Collection`),
    names: onePieceNames,
  },
  fab: {
    id: 6,
    table: null,
    singlesCategory: 90,
    sealedCategory: 91,
    languageKey: 'fab_language',
    languages: ['en', 'de', 'fr', 'it', 'es', 'jp'],
    languageWeights: [80, 5, 5, 4, 4, 2],
    expansions: exps(7000, `
      WTR|Welcome to Rathe
      ARC|Arcane Rising
      MON|Monarch
      UPR|Uprising`),
    names: fabNames,
  },
  yugioh: {
    id: 4,
    table: null,
    singlesCategory: 5,
    sealedCategory: 6,
    languageKey: 'yugioh_language',
    languages: ['en', 'it', 'de', 'fr', 'es', 'pt'],
    languageWeights: [70, 8, 8, 6, 5, 3],
    expansions: exps(9000, `
      LOB|Legend of Blue Eyes White Dragon
      MP24|25th Anniversary Tin: Dueling Mirrors
      RA01|Rarity Collection`),
    names: yugiohNames,
  },
}

export const conditions = ['Mint', 'Near Mint', 'Slightly Played', 'Moderately Played', 'Played', 'Heavily Played', 'Poor'] as const
export const conditionWeights = [6, 62, 16, 8, 4, 3, 1]
/** Price multiplier per condition, same order as `conditions`. */
export const conditionFactor = [1.1, 1, 0.85, 0.7, 0.55, 0.4, 0.25]

export const sealedNames = [
  'Draft Booster Box', 'Set Booster Box', 'Collector Booster Box', 'Booster Pack', 'Bundle', 'Prerelease Pack',
  'Elite Trainer Box', 'Booster Display', 'Starter Deck', 'Commander Deck', 'Blister Pack', 'Play Booster Box',
]

export const descriptions = [
  'Pulled from a fresh pack, sleeved immediately.',
  'Light whitening on the back edges, see photos.',
  'Carta in ottime condizioni, spedizione in toploader.',
  'Leichte Kratzer auf der Vorderseite.',
  'Carte en très bon état — envoi rapide.',
  'Carta en perfecto estado, enviada con protector.',
  'Slight "bend" in the top-left corner; priced accordingly.',
  'Signed by the artist at GP Torino 2019 ✍️',
  'Ships in a team bag.\nCombined shipping available.',
  'From a smoke-free collection; stored in a binder since 2004.',
  '日本語版です。美品。',
  'Misprint: ink line across the art (see photo).',
  'Tab\tseparated note and a back\\slash.',
  'Played in one tournament, double-sleeved.',
]

export const userDataFields = [
  'box 12', 'binder A/3', 'shelf-7', 'B2-R14', 'drawer 3 · slot 9', 'cabinet Ü1', 'lot #4471', 'consignment: Marco',
  'bulk 2023-11', 'showcase',
]

export const tags = ['bulk', 'trade', 'ebay-sync', 'playset', 'from-collection', 'hold', 'wishlist-dup', '🔥 hot', 'promo']

/** Decorations occasionally added to a name: emoji, including ZWJ sequences and flags. */
export const emoji = ['🔥', '⭐', '🐉', '✨', '🃏', '👨‍👩‍👧', '🇯🇵', '💎']
