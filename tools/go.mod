module github.com/hopscope/hopscope/tools

go 1.26
