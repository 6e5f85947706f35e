#!/usr/bin/env bash
# Source checks that the compiler does not make (CONVENTIONS.md 2 and 9),
# in the spirit of curl's checksrc:
#
#   - banned calls: strcpy strcat sprintf vsprintf gets atoi atol strtok
#     (use snprintf, em_buf, strtol/strtoll with an end pointer, strtok_r);
#   - layering: only src/store/ includes sqlite3.h or libpq-fe.h, and only
#     src/net/ includes uv.h.
#
# Comments and string literals are ignored, so a comment may name a banned
# call. A line carrying the comment "check-src: allow" is skipped entirely
# (say why next to it). Prints file:line: problem for each hit and exits 1
# when there is any.
#
#   scripts/check-src.sh [FILE|DIR]...   (default: src tests/unit tests/fuzz tools)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then
	roots=("$@")
else
	roots=()
	for d in src tests/unit tests/fuzz tools; do
		if [ -e "$d" ]; then
			roots+=("$d")
		fi
	done
fi

files=()
while IFS= read -r -d '' f; do
	files+=("$f")
done < <(find "${roots[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

if [ ${#files[@]} -eq 0 ]; then
	echo "check-src: no C files found" >&2
	exit 0
fi

# Perl (always present on Debian: perl-base) blanks out comments and string
# contents while keeping line numbers, then applies the rules line by line.
perl -e '
use strict;
use warnings;

my @banned = qw(strcpy strcat sprintf vsprintf gets atoi atol strtok);
my $banned_re = join("|", @banned);
my $problems = 0;

for my $file (@ARGV) {
	open(my $fh, "<", $file) or die "$file: $!\n";
	my @raw = <$fh>;
	close($fh);

	# Blank comments and literals character by character (keeps newlines).
	my $src = join("", @raw);
	my $out = "";
	my $state = "code";
	for (my $i = 0; $i < length($src); $i++) {
		my $c = substr($src, $i, 1);
		my $n = substr($src, $i + 1, 1);
		if ($state eq "code") {
			if ($c eq "/" && $n eq "*") { $state = "block"; $out .= "  "; $i++; next; }
			if ($c eq "/" && $n eq "/") { $state = "line"; $out .= "  "; $i++; next; }
			if ($c eq "\"") { $state = "str"; $out .= $c; next; }
			if ($c eq "\x27") { $state = "chr"; $out .= $c; next; }
			$out .= $c;
		} elsif ($state eq "block") {
			if ($c eq "*" && $n eq "/") { $state = "code"; $out .= "  "; $i++; next; }
			$out .= ($c eq "\n") ? "\n" : " ";
		} elsif ($state eq "line") {
			if ($c eq "\n") { $state = "code"; $out .= "\n"; next; }
			$out .= " ";
		} else {
			my $q = ($state eq "str") ? "\"" : "\x27";
			if ($c eq "\\") { $out .= "  "; $i++; next; }
			if ($c eq $q) { $state = "code"; $out .= $c; next; }
			if ($c eq "\n") { $state = "code"; $out .= "\n"; next; }
			$out .= " ";
		}
	}
	my @lines = split(/\n/, $out, -1);

	my $in_store = $file =~ m{(^|/)src/store/};
	my $in_net = $file =~ m{(^|/)src/net/};
	for (my $ln = 0; $ln < @raw; $ln++) {
		my $orig = $raw[$ln];
		next if $orig =~ /check-src: allow/;
		my $code = $lines[$ln] // "";
		my $where = "$file:" . ($ln + 1);

		# Includes are read from the original line: the header name is a literal.
		if ($orig =~ /^\s*#\s*include\s*[<"]([^>"]+)[>"]/) {
			my $h = $1;
			if (($h eq "sqlite3.h" || $h eq "libpq-fe.h") && !$in_store) {
				print "$where: #include <$h> outside src/store/ (use store/store.h)\n";
				$problems++;
			}
			if ($h eq "uv.h" && !$in_net) {
				print "$where: #include <uv.h> outside src/net/ (use net/loop.h)\n";
				$problems++;
			}
			next;
		}
		# A call: the name not preceded by an identifier character, member
		# access or a longer name (snprintf, fgets, strtok_r stay allowed).
		while ($code =~ /(?<![\w.>])($banned_re)\s*\(/g) {
			print "$where: banned call $1()\n";
			$problems++;
		}
	}
}
if ($problems) {
	print STDERR "check-src: $problems problem(s)\n";
	exit 1;
}
print STDERR "check-src: " . scalar(@ARGV) . " files ok\n";
' "${files[@]}"
