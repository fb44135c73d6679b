#  Writes a C file that holds a file's bytes, so the gateway carries its
#  status page and API description instead of reading files at run time.
#
#    cmake -DIN=FILE -DOUT=FILE.c -DNAME=SYMBOL -P embed.cmake
#
#  Defines `const unsigned char SYMBOL[]` (the bytes and one NUL after them)
#  and `const size_t SYMBOL_len` (without the NUL), declared in assets.h.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR len "${hex_len} / 2")
#  16 bytes a line: break the hex text every 32 digits, then make each
#  pair of digits a C byte.
string(REPEAT "[0-9a-f]" 32 line)
string(REGEX REPLACE "(${line})" "\\1\n" hex "${hex}")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
get_filename_component(source "${IN}" NAME)
file(WRITE "${OUT}.tmp"
     "/* Generated at build time from ${source} by gen/embed.cmake: do not edit. */\n"
     "#include \"assets.h\"\n\n"
     "const unsigned char ${NAME}[] = {\n${bytes}0x00\n};\n"
     "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
