-- Generates :n contacts (and tags for about a third of them) in the data
-- directory's database of a stopped emma, in one transaction, through the
-- same triggers that keep the search index in step on a live server.
-- Deterministic: the same rows every run. Used by bench/contacts.sh:
--   sqlite3 DB -cmd ".parameter set :n 1000000" < bench/contacts_gen.sql
BEGIN;
CREATE TEMP TABLE first_names(i INTEGER PRIMARY KEY, v TEXT);
INSERT INTO first_names(i, v) SELECT key, value FROM json_each('["Anna","Bert","Carla","Dieter","Eva","Frank",
 "Greta","Hans","Ida","Jonas","Katrin","Lukas","Marie","Niklas","Olga","Paul","Quirin","Rita","Stefan","Tanja",
 "Uwe","Vera","Werner","Xenia","Yusuf","Zoe","Jörg","Sören","Ümit","Chloé","Mehmet","Aylin","Sophie","Leon",
 "Emma","Noah","Mia","Elias","Lina","Felix","Hanna","Jakob","Lea","Max","Nora","Oskar","Pia","Rafael","Sara",
 "Tom"]');
CREATE TEMP TABLE last_names(i INTEGER PRIMARY KEY, v TEXT);
INSERT INTO last_names(i, v) SELECT key, value FROM json_each('["Müller","Schmidt","Schneider","Fischer",
 "Weber","Meyer","Wagner","Becker","Schulz","Hoffmann","Schäfer","Koch","Bauer","Richter","Klein","Wolf",
 "Schröder","Neumann","Schwarz","Zimmermann","Braun","Krüger","Hofmann","Hartmann","Lange","Schmitt","Werner",
 "Schmitz","Krause","Meier","Lehmann","Schmid","Schulze","Maier","Köhler","Herrmann","König","Walter","Mayer",
 "Huber","Kaiser","Fuchs","Peters","Lang","Scholz","Möller","Weiß","Jung","Hahn","Schubert","Vogel",
 "Friedrich","Keller","Günther","Frank","Berger","Winkler","Roth","Beck","Lorenz","Baumann","Franke","Albrecht",
 "Schuster","Simon","Ludwig","Böhm","Winter","Kraus","Martin","Schumacher","Krämer","Vogt","Stein","Jäger",
 "Otto","Sommer","Groß","Seidel","Heinrich","Brandt","Haas","Schreiber","Graf","Schulte","Dietrich","Ziegler",
 "Kuhn","Kühn","Pohl","Engel","Horn","Busch","Bergmann","Thomas","Voigt","Sauer","Arnold","Wolff","Pfeiffer"]');
CREATE TEMP TABLE domains(i INTEGER PRIMARY KEY, v TEXT);
INSERT INTO domains(i, v) SELECT key, value FROM json_each('["gmail.example","web.example","gmx.example",
 "t-online.example","outlook.example","yahoo.example","posteo.example","mailbox.example","icloud.example",
 "freenet.example"]');
CREATE TEMP TABLE companies(i INTEGER PRIMARY KEY, v TEXT);
INSERT INTO companies(i, v) SELECT key, value FROM json_each('["Bäckerei Sonne","Teehaus Wien","Muster GmbH",
 "Nordlicht AG","Stadtwerke Süd","Blumen Lang","Autohaus Kraft","Praxis am Markt","Weingut Rebe",
 "Fahrradladen Speiche","Buchhandlung Seite","Optik Klarblick","Café Milchschaum","Elektro Funke",
 "Schreinerei Holzwurm","Hotel Seeblick"]');
CREATE TEMP TABLE tags(i INTEGER PRIMARY KEY, v TEXT);
INSERT INTO tags(i, v) SELECT key, value FROM json_each('["vip","newsletter","b2b","wholesale","returning",
 "black-friday","complaint","press","partner","gift-card","winter-sale","loyalty","student","trade-fair",
 "catalogue","sample","reseller","event","survey","beta"]');

WITH RECURSIVE seq(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM seq WHERE k < :n)
INSERT INTO contact (public_id, site_id, name, email, phone, company, stage, source, created_at, updated_at)
SELECT 'ctbench' || k, (SELECT id FROM site WHERE key = 'default'),
       f.v || ' ' || l.v,
       lower(f.v) || '.' || lower(l.v) || (k % 9973) || '@' || d.v,
       CASE WHEN k % 3 = 0 THEN '' ELSE '+49' || (1500000000 + (k * 104729) % 8499999999) END,
       CASE WHEN k % 4 = 0 THEN c.v ELSE '' END,
       CASE k % 10 WHEN 0 THEN 'customer' WHEN 1 THEN 'customer' WHEN 2 THEN 'lost' WHEN 3 THEN 'won_back'
                   ELSE 'lead' END,
       'import', 1700000000000 + k * 1000, 1700000000000 + k * 1000
FROM seq
JOIN first_names f ON f.i = (k * 7) % 50
JOIN last_names l ON l.i = (k * 13 + k / 50) % 100
JOIN domains d ON d.i = k % 10
JOIN companies c ON c.i = (k * 3) % 16;

INSERT INTO contact_tag (contact_id, tag)
SELECT ct.id, t.v FROM contact ct JOIN tags t ON t.i = (ct.id * 11) % 20
WHERE ct.public_id LIKE 'ctbench%' AND ct.id % 3 = 0;
COMMIT;
