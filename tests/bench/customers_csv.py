"""Write the bench's generated customers CSV: python3 customers_csv.py ROWS PATH.

Indonesian headers (Nama, E-mail, No HP, Tags, Alamat, Kota, Kode Pos), semicolon-separated;
English and Indonesian names, unique e-mails and mobile numbers, 0-2 tags, and a complete
address (street, one of ten cities, postal code) that the import stores as the customer's
default billing address. Seeded, so every run writes the same file.
"""
import random
import sys

rows, path = int(sys.argv[1]), sys.argv[2]
first = ["Budi", "Siti", "Agus", "Dewi", "Rina", "Joko", "Ayu", "Andi", "Putri", "Eko", "Maria", "John", "Linda", "David", "Sarah"]
last = ["Santoso", "Wijaya", "Saputra", "Lestari", "Hidayat", "Kusuma", "Pratama", "Smith", "Brown", "Tan", "Lim", "Nugroho"]
tags = ["vip", "grosir", "retail", "online", "jakarta", "surabaya", "newsletter"]
cities = [("Jakarta", "10110"), ("Surabaya", "60111"), ("Bandung", "40111"), ("Medan", "20111"), ("Semarang", "50131"),
          ("Makassar", "90111"), ("Palembang", "30111"), ("Denpasar", "80111"), ("Yogyakarta", "55111"), ("Malang", "65111")]
streets = ["Jl. Sudirman", "Jl. Thamrin", "Jl. Merdeka", "Jl. Diponegoro", "Jl. Gatot Subroto", "Jl. Ahmad Yani"]
random.seed(7)
with open(path, "w") as f:
    f.write("Nama;E-mail;No HP;Tags;Alamat;Kota;Kode Pos\n")
    for i in range(rows):
        a, b = random.choice(first), random.choice(last)
        t = ",".join(random.sample(tags, random.randint(0, 2)))
        city, postal = random.choice(cities)
        street = f"{random.choice(streets)} No. {random.randint(1, 250)}"
        f.write(f"{a} {b};{a.lower()}.{b.lower()}{i}@example.id;0812{(i * 7919) % 100000000:08d};{t};{street};{city};{postal}\n")
